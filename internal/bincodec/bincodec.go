// Package bincodec holds the primitives of gitboot's compact binary
// caches (the evaluation cache, the copy of the running inventory):
// varints and length-prefixed strings appended to a byte slice, and a
// Decoder that reads them back, its first error sticking, so a caller
// checks once at the end.
package bincodec

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
)

// ErrFormat is what a Decoder fails with unless it names its own Failure.
var ErrFormat = errors.New("not of this encoding")

// AppendString appends s, length first.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBytes appends s, length first (read back by Raw or Str).
func AppendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBool appends v as one byte, 1 or 0.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendList appends l, telling nil (0) apart from empty (1: the count
// is stored plus one).
func AppendList(b []byte, l []string) []byte {
	if l == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(l))+1)
	for _, s := range l {
		b = AppendString(b, s)
	}
	return b
}

// AppendMap appends m by sorted key, nil apart from empty as AppendList.
func AppendMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(m))+1)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = AppendString(b, k)
		b = AppendString(b, m[k])
	}
	return b
}

// Decoder reads what the Append functions wrote from B. After the first
// failure every read returns the zero value and Err stays the first error.
type Decoder struct {
	B   []byte
	Err error
	// Intern holds strings read with IStr, one copy each (names that
	// repeat from node to node); nil: IStr copies as Str does.
	Intern map[string]string
	// Failure is the error a failed read sets (ErrFormat when nil).
	Failure error
}

// Fail stops the decoder: Err is set (unless set before) and B emptied.
func (d *Decoder) Fail() {
	if d.Err == nil {
		d.Err = d.Failure
		if d.Err == nil {
			d.Err = ErrFormat
		}
	}
	d.B = nil
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Int reads a signed varint.
func (d *Decoder) Int() int {
	v, n := binary.Varint(d.B)
	if n <= 0 {
		d.Fail()
		return 0
	}
	d.B = d.B[n:]
	return int(v)
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if len(d.B) == 0 {
		d.Fail()
		return 0
	}
	c := d.B[0]
	d.B = d.B[1:]
	return c
}

// Raw reads a length-prefixed run of bytes, without copying them.
func (d *Decoder) Raw() []byte {
	l := d.Uvarint()
	if l > uint64(len(d.B)) {
		d.Fail()
		return nil
	}
	raw := d.B[:l]
	d.B = d.B[l:]
	return raw
}

// Str reads a string.
func (d *Decoder) Str() string { return string(d.Raw()) }

// IStr reads a string that repeats, kept once in Intern.
func (d *Decoder) IStr() string {
	raw := d.Raw()
	if d.Intern == nil {
		return string(raw)
	}
	if s, ok := d.Intern[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.Intern[s] = s
	return s
}

// List reads what AppendList wrote (its strings interned).
func (d *Decoder) List() []string {
	l := d.Uvarint()
	if l == 0 {
		return nil
	}
	if l-1 > uint64(len(d.B)) {
		d.Fail()
		return nil
	}
	out := make([]string, l-1)
	for i := range out {
		out[i] = d.IStr()
	}
	return out
}

// StrMap reads what AppendMap wrote (keys and values interned).
func (d *Decoder) StrMap() map[string]string {
	l := d.Uvarint()
	if l == 0 {
		return nil
	}
	if l-1 > uint64(len(d.B)) {
		d.Fail()
		return nil
	}
	m := make(map[string]string, l-1)
	for i := uint64(0); i < l-1 && d.Err == nil; i++ {
		k := d.IStr()
		m[k] = d.IStr()
	}
	return m
}
