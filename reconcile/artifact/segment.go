package artifact

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"io"
)

// A system overlay is stored as two gzip members, each a complete cpio
// newc archive: first the shared segment (the files of gitboot's init
// overlay that are not templates, the gitboot-agent binary among them),
// the same bytes for every node and compressed once per build, then the
// node's own segment (the init overlay's templates, if any, and the node's
// system_overlays). Linux's initramfs unpacker reads concatenated,
// separately compressed archives (as with early microcode) and applies
// their entries in order, so a file of the node's segment replaces one of
// the shared segment: the tree is the one a single archive of all the
// overlays would give, which splitNode checks (or falls back to that
// single archive).

// sharedSegment is the shared segment of the system overlays of one init
// overlay (its hash covers the agent's bytes).
type sharedSegment struct {
	key  segmentKey
	data []byte // one gzip member holding a cpio newc archive
	// tree is its entries' names and types, for splitOK: no content (the
	// builder keeps the segment between builds, and the content is the
	// gitboot-agent binary, 7 MB, which data already holds compressed).
	tree *tree
	// state is the sha256 state after data: a system overlay's digest
	// hashes only the node's segment on top of it.
	state []byte
}

// isInitOverlay reports whether ov is gitboot's init overlay (the first of
// every system overlay).
func isInitOverlay(ov *overlay) bool { return ov != nil && !ov.repo && ov.decl == "" }

// segmentKey identifies a shared segment: the init overlay's hash and the
// layout of the image it is placed on (see placeTree: the same files are
// other entries on another image).
type segmentKey struct {
	init   [32]byte
	layout *Layout // nil: none (placed nowhere)
	comp   string  // the image's compression
}

// sharedSegment returns the shared segment of init on img's image,
// building it unless an earlier build made it. Builds run one at a time
// (b.mu).
func (b *Builder) sharedSegment(init *overlay, img *imageView) (*sharedSegment, error) {
	key := segmentKey{init: init.hash}
	if img != nil {
		key.layout, key.comp = img.lay, img.comp
	}
	if s, ok := b.segments[key]; ok {
		return s, nil
	}
	static := &overlay{name: init.name, decl: init.decl, hash: init.hash}
	for _, f := range init.files {
		if f.tmpl == nil {
			static.files = append(static.files, f)
		}
	}
	t := newTree()
	var origin map[string]string
	if key.layout != nil {
		origin = map[string]string{}
	}
	if err := addOverlay(t, static, nil, img, origin); err != nil {
		return nil, err
	}
	if origin != nil {
		var err error
		if t, err = placeTree(t, img, origin); err != nil {
			return nil, err
		}
	}
	data, err := compressTree(t, key.comp)
	if err != nil {
		return nil, fmt.Errorf("building the shared part of the system overlays: %w", err)
	}
	h := sha256.New()
	h.Write(data)
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	// data is exactly as long as the archive (the buffer it was
	// compressed into grew by doubling).
	s := &sharedSegment{key: key, data: bytes.Clone(data), tree: t.shape(), state: state}
	if b.segments == nil {
		b.segments = map[segmentKey]*sharedSegment{}
	}
	b.segments[key] = s
	return s, nil
}

// pruneSegments keeps only the shared segments a build uses.
func (b *Builder) pruneSegments(used map[*imageView]*sharedSegment) {
	keep := make(map[*sharedSegment]bool, len(used))
	for _, s := range used {
		keep[s] = true
	}
	for k, s := range b.segments {
		if !keep[s] {
			delete(b.segments, k)
		}
	}
}

// sharedSegments compresses the shared segment of the system overlays
// once per image layout the jobs use, and prunes the others.
func (b *Builder) sharedSegments(order []*job) (map[*imageView]*sharedSegment, error) {
	var err error
	segs := map[*imageView]*sharedSegment{}
	for _, j := range order {
		if _, ok := segs[j.img]; !ok && !j.runtime && isInitOverlay(j.ovs[0]) {
			if segs[j.img], err = b.sharedSegment(j.ovs[0], j.img); err != nil {
				return nil, err
			}
		}
	}
	b.pruneSegments(segs)
	return segs, nil
}

// sum returns the sha256 of the shared segment followed by tail.
func (s *sharedSegment) sum(tail []byte) ([32]byte, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.state); err != nil {
		return [32]byte{}, err
	}
	h.Write(tail)
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// nodePart returns the overlays of a system overlay job that go into the
// node's segment: the init overlay's templates, then the other overlays.
func nodePart(ovs []*overlay) []*overlay {
	init := ovs[0]
	var tmpls *overlay
	for _, f := range init.files {
		if f.tmpl != nil {
			if tmpls == nil {
				tmpls = &overlay{name: init.name, decl: init.decl, deps: init.deps, res: init.res, hash: init.hash}
			}
			tmpls.files = append(tmpls.files, f)
		}
	}
	out := make([]*overlay, 0, len(ovs))
	if tmpls != nil {
		out = append(out, tmpls)
	}
	return append(out, ovs[1:]...)
}

// splitOK reports whether unpacking the shared segment and then node (as
// the kernel does: an entry replaces what is at its path) gives the same
// tree as one archive of both. It does as long as no path is a directory in
// one and something else in the other: the kernel cannot replace a
// directory that has entries, and a single archive refuses a path through
// a file. Everything else (a file over a file, a directory's metadata over
// a directory's) the later segment wins, as the later overlay does.
func splitOK(shared, node *tree) bool {
	ok := true
	_ = node.walk(func(p string, ino *inode) error {
		s, found := shared.lookup(p)
		if found && (s.ino.mode&typeMask == typeDir) != (ino.mode&typeMask == typeDir) {
			ok = false
			return errStopWalk
		}
		return nil
	})
	return ok
}

var errStopWalk = errors.New("stop")

// shape returns a copy of t with each entry's type and permission bits
// only (what splitOK compares): no content, owner or link target.
func (t *tree) shape() *tree {
	return &tree{root: shapeNode(t.root), entries: t.entries}
}

func shapeNode(n *node) *node {
	out := &node{ino: &inode{mode: n.ino.mode}}
	if n.children != nil {
		out.children = make(map[string]*node, len(n.children))
		for name, c := range n.children {
			out.children[name] = shapeNode(c)
		}
	}
	return out
}

// compressTree writes t as a cpio newc archive in one member compressed
// with c (see compress.go).
func compressTree(t *tree, c string) ([]byte, error) {
	return compressBytes(c, func(w io.Writer) error { return writeCPIO(w, t, nil) })
}
