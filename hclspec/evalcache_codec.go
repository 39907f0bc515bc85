package hclspec

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/gitboot/gitboot/internal/bincodec"
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
		b = bincodec.AppendString(b, k)
		b = bincodec.AppendString(b, e.File)
		b = binary.AppendVarint(b, int64(e.Line))
		b = binary.AppendVarint(b, int64(e.Byte))
		b = binary.AppendVarint(b, int64(e.End))
		b = bincodec.AppendMap(b, e.Deps)
		raw := e.raw
		if raw == nil {
			raw = encodeNodes(e.Nodes)
		}
		b = bincodec.AppendString(b, string(raw))
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
		b = bincodec.AppendString(b, s)
	}
	ip, _ := n.IP.MarshalBinary()
	b = bincodec.AppendString(b, string(ip))
	for _, l := range [][]string{n.Profiles, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, n.Users} {
		b = bincodec.AppendList(b, l)
	}
	b = bincodec.AppendMap(b, n.Tags)
	b = bincodec.AppendString(b, ResourcesJSON(n.Resources))
	if n.BMC == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = bincodec.AppendString(b, n.BMC.Driver)
		b = bincodec.AppendString(b, n.BMC.Address)
		b = binary.AppendVarint(b, int64(n.BMC.Port))
		b = bincodec.AppendString(b, n.BMC.Credentials)
		b = bincodec.AppendBool(b, n.BMC.Insecure)
	}
	b = appendRange(b, n.Range)
	origins := n.AllOrigins()
	keys := make([]string, 0, len(origins))
	for k := range origins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = bincodec.AppendString(b, k)
		b = appendRange(b, origins[k])
	}
	return b
}

func appendRange(b []byte, r hcl.Range) []byte {
	b = bincodec.AppendString(b, r.Filename)
	for _, v := range []int{r.Start.Line, r.Start.Column, r.Start.Byte, r.End.Line, r.End.Column, r.End.Byte} {
		b = binary.AppendVarint(b, int64(v))
	}
	return b
}

// decoder reads the encoding; the first error sticks.
type decoder struct {
	// Its Intern: repeated strings (file names, profile names) share one copy.
	bincodec.Decoder
	// shift moves ranges inside an entry's chunk (see moved) while
	// decoding its nodes: the block is now dLine lines and dByte bytes
	// from where it was cached.
	shift rangeShift
	// lazyShift is the shift nodes keep for their lazily decoded
	// Origins (nil: none).
	lazyShift *rangeShift
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
	d := &decoder{Decoder: bincodec.Decoder{B: body[len(head):], Intern: intern, Failure: errCacheFormat}}
	count := d.Uvarint()
	if d.Err != nil || count > uint64(len(d.B)) {
		return nil, errCacheFormat
	}
	entries := make(map[string]*cacheEntry, count)
	for i := uint64(0); i < count && d.Err == nil; i++ {
		key := d.Str()
		e := &cacheEntry{File: d.IStr(), Line: d.Int(), Byte: d.Int(), End: d.Int(), Deps: d.StrMap()}
		e.raw = d.Raw()
		entries[key] = e
	}
	if d.Err != nil {
		return nil, d.Err
	}
	if len(d.B) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the entries", errCacheFormat, len(d.B))
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
	d := &decoder{Decoder: bincodec.Decoder{B: e.raw, Intern: intern, Failure: errCacheFormat}}
	if dLine != 0 || dByte != 0 {
		d.lazyShift = &rangeShift{file: e.File, from: e.Byte, end: e.End, dLine: dLine, dByte: dByte}
		d.shift = *d.lazyShift
	}
	count := d.Uvarint()
	if d.Err != nil || count > uint64(len(d.B)) {
		return nil, errCacheFormat
	}
	nodes := make([]*Node, 0, count)
	for j := uint64(0); j < count && d.Err == nil; j++ {
		nodes = append(nodes, d.node())
	}
	if d.Err != nil {
		return nil, d.Err
	}
	if len(d.B) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after an entry's nodes", errCacheFormat, len(d.B))
	}
	if dLine == 0 && dByte == 0 {
		e.Nodes = nodes // decoded once for the loads that find it in place
	}
	return nodes, nil
}

func (d *decoder) node() *Node {
	n := &Node{Name: d.Str(), MAC: d.Str(), Image: d.IStr(), Network: d.IStr(), AssetKeySHA256: d.Str(),
		Root: d.IStr(), RootSize: d.IStr(), NetworkConfig: d.IStr()}
	if ip := d.Str(); ip != "" {
		if err := n.IP.UnmarshalBinary([]byte(ip)); err != nil {
			d.Fail()
		}
	} else {
		n.IP = netip.Addr{}
	}
	n.Profiles, n.KernelArgs, n.SystemOverlays, n.RuntimeOverlays, n.Users = d.List(), d.List(), d.List(), d.List(), d.List()
	n.Tags = d.StrMap()
	if r, err := ParseResourcesJSON(d.Str()); err != nil {
		d.Fail()
	} else {
		n.Resources = r
	}
	if d.Byte() == 1 {
		n.BMC = &BMC{Driver: d.IStr(), Address: d.Str(), Port: d.Int(), Credentials: d.IStr(), Insecure: d.Byte() == 1}
	}
	n.Range = d.rng()
	n.lazy = lazyOrigins{raw: d.skipOrigins(), shift: d.lazyShift}
	return n
}

func (d *decoder) rng() hcl.Range {
	r := hcl.Range{Filename: d.IStr()}
	r.Start = hcl.Pos{Line: d.Int(), Column: d.Int(), Byte: d.Int()}
	r.End = hcl.Pos{Line: d.Int(), Column: d.Int(), Byte: d.Int()}
	return d.shift.apply(r)
}
