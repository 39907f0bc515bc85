package bincodec

import (
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = AppendString(b, "node-1")
	b = AppendBytes(b, []byte{0, 1, 2})
	b = AppendBool(b, true)
	b = AppendList(b, nil)
	b = AppendList(b, []string{})
	b = AppendList(b, []string{"a", "b", "a"})
	b = AppendMap(b, nil)
	b = AppendMap(b, map[string]string{"z": "1", "a": "2"})
	b = append(b, 0x7f) // a varint: -64
	d := &Decoder{B: b, Intern: map[string]string{}}
	if got := d.Str(); got != "node-1" {
		t.Fatalf("Str = %q", got)
	}
	if got := d.Raw(); !reflect.DeepEqual(got, []byte{0, 1, 2}) {
		t.Fatalf("Raw = %v", got)
	}
	if d.Byte() != 1 {
		t.Fatal("Bool true did not read back as 1")
	}
	if l := d.List(); l != nil {
		t.Fatalf("nil list read back as %#v", l)
	}
	if l := d.List(); l == nil || len(l) != 0 {
		t.Fatalf("empty list read back as %#v", l)
	}
	l := d.List()
	if !reflect.DeepEqual(l, []string{"a", "b", "a"}) {
		t.Fatalf("List = %v", l)
	}
	if m := d.StrMap(); m != nil {
		t.Fatalf("nil map read back as %#v", m)
	}
	if m := d.StrMap(); !reflect.DeepEqual(m, map[string]string{"z": "1", "a": "2"}) {
		t.Fatalf("StrMap = %v", m)
	}
	if v := d.Int(); v != -64 {
		t.Fatalf("Int = %d, want -64", v)
	}
	if d.Err != nil || len(d.B) != 0 {
		t.Fatalf("after reading everything: err %v, %d bytes left", d.Err, len(d.B))
	}
	// a, b (the list); z, 1, a, 2 (the map): five distinct strings.
	if len(d.Intern) != 5 {
		t.Fatalf("Intern holds %d strings, want 5: %v", len(d.Intern), d.Intern)
	}
}

func TestTruncatedFailsAndSticks(t *testing.T) {
	full := AppendList(AppendString(nil, "hello"), []string{"x", "y"})
	for cut := 0; cut < len(full); cut++ {
		own := errors.New("mine")
		d := &Decoder{B: full[:cut], Failure: own}
		d.Str()
		d.List()
		if !errors.Is(d.Err, own) {
			t.Fatalf("cut at %d of %d: err %v, want the decoder's own failure", cut, len(full), d.Err)
		}
		if d.Str() != "" || d.Uvarint() != 0 || d.Byte() != 0 || d.List() != nil || d.StrMap() != nil {
			t.Fatalf("cut at %d: a read after the failure returned a value", cut)
		}
	}
	d := &Decoder{B: []byte{5, 'a'}} // a length past the end
	if d.Raw() != nil || !errors.Is(d.Err, ErrFormat) {
		t.Fatalf("a length past the end: err %v, want ErrFormat", d.Err)
	}
	d = &Decoder{B: []byte{200, 200, 200}} // a list count past the end
	if d.List() != nil || d.Err == nil {
		t.Fatal("a list count past the end was read")
	}
}
