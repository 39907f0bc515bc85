package hclspec

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/hashicorp/hcl/v2"
)

// The evaluation cache's file: cacheFormat and a newline, then the entries
// in a compact binary encoding (varints and length-prefixed strings),
// several times faster to read than gob's at 10,000 nodes, then the
// sha256 of everything before it (a damaged file is no cache). Each
// entry's nodes are one length-prefixed string, decoded only when a load
// uses the entry (entryNodes) and written back as they were read: reading
// and writing the file costs a copy, not a decode and an encode of every
// node. Nodes with interface blocks are never cached, so Interfaces is not
// encoded.

// encodeEntries encodes the cache's entries, sorted by key.
func encodeEntries(entries map[string]*cacheEntry) []byte {
	keys := make([]string, 0, len(entries))
	size := 64
	for k, e := range entries {
		keys = append(keys, k)
		size += len(k) + len(e.raw) + 64
	}
	sort.Strings(keys)
	b := make([]byte, 0, size)
	b = append(b, cacheFormat...)
	b = append(b, '\n')
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		e := entries[k]
		b = appendString(b, k)
		b = appendString(b, e.File)
		b = binary.AppendVarint(b, int64(e.Line))
		b = binary.AppendVarint(b, int64(e.Byte))
		b = binary.AppendVarint(b, int64(e.End))
		b = appendMap(b, e.Deps)
		raw := e.raw
		if raw == nil {
			raw = encodeNodes(e.Nodes)
		}
		b = appendString(b, string(raw))
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// encodeNodes encodes an entry's nodes (what entryNodes decodes).
func encodeNodes(nodes []*Node) []byte {
	b := binary.AppendUvarint(nil, uint64(len(nodes)))
	for _, n := range nodes {
		b = appendNode(b, n)
	}
	return b
}

func appendNode(b []byte, n *Node) []byte {
	for _, s := range []string{n.Name, n.MAC, n.Image, n.Network, n.AssetKeySHA256, n.Root, n.RootSize, n.NetworkConfig} {
		b = appendString(b, s)
	}
	ip, _ := n.IP.MarshalBinary()
	b = appendString(b, string(ip))
	for _, l := range [][]string{n.Profiles, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, n.Users} {
		b = appendList(b, l)
	}
	b = appendMap(b, n.Tags)
	b = appendString(b, ResourcesJSON(n.Resources))
	if n.BMC == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, n.BMC.Driver)
		b = appendString(b, n.BMC.Address)
		b = binary.AppendVarint(b, int64(n.BMC.Port))
		b = appendString(b, n.BMC.Credentials)
		b = appendBool(b, n.BMC.Insecure)
	}
	b = appendRange(b, n.Range)
	keys := make([]string, 0, len(n.Origins))
	for k := range n.Origins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendRange(b, n.Origins[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendList encodes nil apart from empty (Desire and hashCluster tell
// them apart).
func appendList(b []byte, l []string) []byte {
	if l == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(l))+1)
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func appendMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(m))+1)
	for _, k := range sortedKeysOf(m) {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

func appendRange(b []byte, r hcl.Range) []byte {
	b = appendString(b, r.Filename)
	for _, v := range []int{r.Start.Line, r.Start.Column, r.Start.Byte, r.End.Line, r.End.Column, r.End.Byte} {
		b = binary.AppendVarint(b, int64(v))
	}
	return b
}

// decoder reads the encoding; the first error sticks.
type decoder struct {
	b      []byte
	err    error
	intern map[string]string // repeated strings (file names, profile names) share one copy
	// shift moves ranges inside an entry's chunk (see moved) while
	// decoding its nodes: the block is now dLine lines and dByte bytes
	// from where it was cached.
	shift struct {
		file         string
		from, end    int
		dLine, dByte int
	}
}

var errCacheFormat = errors.New("not an evaluation cache of this format")

// decodeEntries decodes what encodeEntries wrote, but for each entry's
// nodes (raw: see entryNodes); intern is shared by the decoders of the
// entries' nodes.
func decodeEntries(data []byte, intern map[string]string) (map[string]*cacheEntry, error) {
	head := cacheFormat + "\n"
	if len(data) < len(head)+sha256.Size || string(data[:len(head)]) != head {
		return nil, errCacheFormat
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("%w: its checksum does not match", errCacheFormat)
	}
	d := &decoder{b: body[len(head):], intern: intern}
	count := d.uvarint()
	if d.err != nil || count > uint64(len(d.b)) {
		return nil, errCacheFormat
	}
	entries := make(map[string]*cacheEntry, count)
	for i := uint64(0); i < count && d.err == nil; i++ {
		key := d.str()
		e := &cacheEntry{File: d.istr(), Line: d.int(), Byte: d.int(), End: d.int(), Deps: d.strMap()}
		e.raw = d.raw()
		entries[key] = e
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the entries", errCacheFormat, len(d.b))
	}
	return entries, nil
}

// entryNodes returns e's nodes as they are when its block starts at line
// and byte now: decoded from the file's bytes (moved on the way) or e's
// decoded nodes moved. An entry that does not decode is an error (the
// caller evaluates the block instead).
func entryNodes(e *cacheEntry, intern map[string]string, line, byteAt int) ([]*Node, error) {
	dLine, dByte := line-e.Line, byteAt-e.Byte
	if e.raw == nil {
		out := make([]*Node, len(e.Nodes))
		for i, n := range e.Nodes {
			out[i] = moved(n, e.File, e.Byte, e.End, dLine, dByte)
		}
		return out, nil
	}
	if e.Nodes != nil && dLine == 0 && dByte == 0 {
		return e.Nodes, nil
	}
	d := &decoder{b: e.raw, intern: intern}
	d.shift.file, d.shift.from, d.shift.end, d.shift.dLine, d.shift.dByte = e.File, e.Byte, e.End, dLine, dByte
	count := d.uvarint()
	if d.err != nil || count > uint64(len(d.b)) {
		return nil, errCacheFormat
	}
	nodes := make([]*Node, 0, count)
	for j := uint64(0); j < count && d.err == nil; j++ {
		nodes = append(nodes, d.node())
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after an entry's nodes", errCacheFormat, len(d.b))
	}
	if dLine == 0 && dByte == 0 {
		e.Nodes = nodes // decoded once for the loads that find it in place
	}
	return nodes, nil
}

func (d *decoder) node() *Node {
	n := &Node{Name: d.str(), MAC: d.str(), Image: d.istr(), Network: d.istr(), AssetKeySHA256: d.str(),
		Root: d.istr(), RootSize: d.istr(), NetworkConfig: d.istr()}
	if ip := d.str(); ip != "" {
		if err := n.IP.UnmarshalBinary([]byte(ip)); err != nil {
			d.fail()
		}
	} else {
		n.IP = netip.Addr{}
	}
	n.Profiles, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, n.Users = d.list(), d.list(), d.list(), d.list(), d.list()
	n.Tags = d.strMap()
	if r, err := ParseResourcesJSON(d.str()); err != nil {
		d.fail()
	} else {
		n.Resources = r
	}
	if d.byte() == 1 {
		n.BMC = &BMC{Driver: d.istr(), Address: d.str(), Port: d.int(), Credentials: d.istr(), Insecure: d.byte() == 1}
	}
	n.Range = d.rng()
	count := d.uvarint()
	if count > uint64(len(d.b)) {
		d.fail()
		return n
	}
	n.Origins = make(map[string]hcl.Range, count)
	for i := uint64(0); i < count && d.err == nil; i++ {
		k := d.istr()
		n.Origins[k] = d.rng()
	}
	return n
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCacheFormat
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// str reads a string; istr one that repeats from node to node (file and
// profile names, attribute names), kept once.
func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) istr() string {
	raw := d.raw()
	if s, ok := d.intern[string(raw)]; ok {
		return s
	}
	s := string(raw)
	d.intern[s] = s
	return s
}

func (d *decoder) raw() []byte {
	l := d.uvarint()
	if l > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	raw := d.b[:l]
	d.b = d.b[l:]
	return raw
}

func (d *decoder) list() []string {
	l := d.uvarint()
	if l == 0 {
		return nil
	}
	if l-1 > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	out := make([]string, l-1)
	for i := range out {
		out[i] = d.istr()
	}
	return out
}

func (d *decoder) strMap() map[string]string {
	l := d.uvarint()
	if l == 0 {
		return nil
	}
	if l-1 > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	m := make(map[string]string, l-1)
	for i := uint64(0); i < l-1 && d.err == nil; i++ {
		k := d.istr()
		m[k] = d.istr()
	}
	return m
}

func (d *decoder) rng() hcl.Range {
	r := hcl.Range{Filename: d.istr()}
	r.Start = hcl.Pos{Line: d.int(), Column: d.int(), Byte: d.int()}
	r.End = hcl.Pos{Line: d.int(), Column: d.int(), Byte: d.int()}
	if sh := &d.shift; (sh.dLine != 0 || sh.dByte != 0) && r.Filename == sh.file && r.Start.Byte >= sh.from && r.Start.Byte < sh.end {
		r.Start.Line += sh.dLine
		r.Start.Byte += sh.dByte
		r.End.Line += sh.dLine
		r.End.Byte += sh.dByte
	}
	return r
}
