package hclspec

import (
	"github.com/gitboot/gitboot/internal/bincodec"
	"github.com/hashicorp/hcl/v2"
)

// lazyOrigins is a node's Origins as the evaluation cache encodes them
// (appendNode's tail: the count, then each attribute's name and range),
// for a node taken from the cache: they are only read to place an error,
// so a load does not decode them (they were half of decoding a cached
// node). Decoded on each use, never kept (a Cluster is read from many
// goroutines).
type lazyOrigins struct {
	raw   []byte      // nil: the node's Origins map holds them
	shift *rangeShift // how the node's chunk moved since it was cached; nil: it did not
}

// rangeShift moves the ranges inside a cached chunk [from, end) of file
// by dLine lines and dByte bytes (see moved).
type rangeShift struct {
	file         string
	from, end    int
	dLine, dByte int
}

func (s *rangeShift) apply(r hcl.Range) hcl.Range {
	if s != nil && (s.dLine != 0 || s.dByte != 0) && r.Filename == s.file && r.Start.Byte >= s.from && r.Start.Byte < s.end {
		r.Start.Line += s.dLine
		r.Start.Byte += s.dByte
		r.End.Line += s.dLine
		r.End.Byte += s.dByte
	}
	return r
}

// Origin returns where the value of the merged attribute attr ("image",
// "tags.role", ...) was set; the zero Range when none was recorded. Use
// it (or AllOrigins) rather than Origins, which is nil for a node taken
// from the evaluation cache.
func (n *Node) Origin(attr string) hcl.Range {
	if n.lazy.raw == nil {
		return n.Origins[attr]
	}
	r, _ := n.lazy.each(func(k []byte) bool { return string(k) == attr })
	return r
}

// AllOrigins returns every attribute's origin (see Origin): Origins
// itself, or for a node taken from the evaluation cache a new map. An
// encoding that does not decode gives what decoded before the fault.
func (n *Node) AllOrigins() map[string]hcl.Range {
	if n.lazy.raw == nil {
		return n.Origins
	}
	out := map[string]hcl.Range{}
	n.lazy.each(func(k []byte) bool { return false }, func(k string, r hcl.Range) { out[k] = r })
	return out
}

// each walks the encoded origins until match reports true for a name and
// returns that origin's range (moved by the shift); all, if given, is
// called with every origin walked.
func (o lazyOrigins) each(match func(k []byte) bool, all ...func(string, hcl.Range)) (hcl.Range, bool) {
	d := &decoder{Decoder: bincodec.Decoder{B: o.raw, Failure: errCacheFormat}}
	count := d.Uvarint()
	for i := uint64(0); i < count && d.Err == nil; i++ {
		k := d.Raw()
		r := d.rng()
		if d.Err != nil {
			break
		}
		r = o.shift.apply(r)
		for _, f := range all {
			f(string(k), r)
		}
		if match(k) {
			return r, true
		}
	}
	return hcl.Range{}, false
}

// skipOrigins reads past the encoded origins and returns their bytes.
func (d *decoder) skipOrigins() []byte {
	start := d.B
	count := d.Uvarint()
	if count > uint64(len(d.B)) {
		d.Fail()
		return nil
	}
	for i := uint64(0); i < count && d.Err == nil; i++ {
		d.Raw() // name
		d.Raw() // file name
		for range 6 {
			d.Int()
		}
	}
	if d.Err != nil {
		return nil
	}
	return start[:len(start)-len(d.B)]
}
