package notes

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// This file is a port of the tree handling of git's notes.c, so that a
// notes tree gitboot writes is the tree `git notes` would write for the same
// notes and the same starting tree.
//
// git keeps the notes in a 16-way trie keyed by the nibbles of the annotated
// object's hash. A directory of the stored tree ("ab/") is loaded lazily: it
// sits in the trie as a subtree entry until a lookup or insert needs what is
// inside. When git writes the tree, the fan-out of each note is decided per
// trie node (determineFanout): a level of directories is added below a
// point where all 16 children hold two or more entries (or an unloaded
// subtree). Unloaded subtrees above that fan-out are written back as they
// were; the rest are loaded and written note by note.

// keyIndex is the byte of a subtree entry's key that holds its prefix length,
// as in notes.c.
const keyIndex = 19

type slotKind uint8

const (
	slotEmpty slotKind = iota
	slotNote
	slotSubtree
	slotNode
)

// slot is a child of a trie node: a note (key = the annotated object,
// hash = the note blob), an unloaded subtree (key = its prefix, zero padded,
// with the prefix length at keyIndex; hash = the tree) or an inner node.
type slot struct {
	kind slotKind
	key  [20]byte
	hash plumbing.Hash
	node *trieNode
}

type trieNode struct{ a [16]slot }

// nonNote is a tree entry that is not part of a note (git keeps them).
type nonNote struct {
	path string
	mode filemode.FileMode
	hash plumbing.Hash
}

// noteTree is a notes tree being read or changed.
type noteTree struct {
	store    storer.EncodedObjectStorer
	root     trieNode
	nonNotes []nonNote
}

// loadNoteTree starts a trie from the notes tree with hash tree (the zero
// hash for no notes yet). Only the top-level tree is read.
func loadNoteTree(s storer.EncodedObjectStorer, tree plumbing.Hash) (*noteTree, error) {
	t := &noteTree{store: s}
	if tree.IsZero() {
		return t, nil
	}
	if err := t.loadSubtree(slot{kind: slotSubtree, hash: tree}, &t.root, 0); err != nil {
		return nil, err
	}
	return t, nil
}

func nibble(key *[20]byte, n int) int {
	b := key[n/2]
	if n%2 == 0 {
		return int(b >> 4)
	}
	return int(b & 0xf)
}

// underSubtree reports whether key starts with subtree sub's prefix.
func underSubtree(key *[20]byte, sub *slot) bool {
	n := int(sub.key[keyIndex])
	return bytes.Equal(key[:n], sub.key[:n])
}

func readTree(s storer.EncodedObjectStorer, h plumbing.Hash) (*object.Tree, error) {
	o, err := s.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, fmt.Errorf("reading notes tree %s: %w", h, err)
	}
	var t object.Tree
	if err := t.Decode(o); err != nil {
		return nil, fmt.Errorf("reading notes tree %s: %w", h, err)
	}
	return &t, nil
}

// loadSubtree puts the entries of subtree sub into the trie at node, depth
// n (load_subtree in notes.c).
func (t *noteTree) loadSubtree(sub slot, node *trieNode, n int) error {
	tree, err := readTree(t.store, sub.hash)
	if err != nil {
		return err
	}
	plen := int(sub.key[keyIndex])
	for _, e := range tree.Entries {
		var item slot
		item.key = sub.key
		item.hash = e.Hash
		switch {
		case len(e.Name) == 2*(20-plen) && isBlobMode(e.Mode) && hexTo(item.key[plen:], e.Name):
			item.kind = slotNote
		case len(e.Name) == 2 && e.Mode == filemode.Dir && plen < keyIndex && hexTo(item.key[plen:plen+1], e.Name):
			clear(item.key[plen+1:])
			item.key[keyIndex] = byte(plen + 1)
			item.kind = slotSubtree
		default:
			var p strings.Builder
			prefix := hex.EncodeToString(sub.key[:plen])
			for i := 0; i < len(prefix); i += 2 {
				p.WriteString(prefix[i : i+2])
				p.WriteByte('/')
			}
			p.WriteString(e.Name)
			t.nonNotes = append(t.nonNotes, nonNote{p.String(), e.Mode, e.Hash})
			continue
		}
		if err := t.insert(node, n, item); err != nil {
			return err
		}
	}
	return nil
}

// isBlobMode is git's S_ISREG: a note must be a file.
func isBlobMode(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated
}

// hexTo decodes s into dst, which it fills exactly.
func hexTo(dst []byte, s string) bool {
	if hex.DecodedLen(len(s)) != len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

// search finds the slot for key below node at depth n, loading the subtrees
// on the way (note_tree_search).
func (t *noteTree) search(node *trieNode, n int, key *[20]byte) (*trieNode, int, *slot, error) {
	for {
		if s := &node.a[0]; s.kind == slotSubtree && underSubtree(key, s) {
			sub := *s
			*s = slot{}
			if err := t.loadSubtree(sub, node, n); err != nil {
				return nil, 0, nil, err
			}
			continue
		}
		s := &node.a[nibble(key, n)]
		switch s.kind {
		case slotNode:
			node, n = s.node, n+1
			continue
		case slotSubtree:
			if underSubtree(key, s) {
				sub := *s
				*s = slot{}
				if err := t.loadSubtree(sub, node, n); err != nil {
					return nil, 0, nil, err
				}
				continue
			}
		}
		return node, n, s, nil
	}
}

// insert adds a note or subtree entry (note_tree_insert). A note already
// there takes the new blob.
func (t *noteTree) insert(node *trieNode, n int, e slot) error {
	node, n, s, err := t.search(node, n, &e.key)
	if err != nil {
		return err
	}
	switch s.kind {
	case slotEmpty:
		*s = e
		return nil
	case slotNote:
		if e.kind == slotNote && s.key == e.key {
			s.hash = e.hash
			return nil
		}
		if e.kind == slotSubtree && underSubtree(&s.key, &e) {
			return t.loadSubtree(e, node, n)
		}
	case slotSubtree:
		if underSubtree(&e.key, s) {
			sub := *s
			*s = slot{}
			if err := t.loadSubtree(sub, node, n); err != nil {
				return err
			}
			return t.insert(node, n, e)
		}
	}
	// Two entries meet: push both one level down.
	inner := &trieNode{}
	if err := t.insert(inner, n+1, *s); err != nil {
		return err
	}
	*s = slot{kind: slotNode, node: inner}
	return t.insert(inner, n+1, e)
}

// get returns the blob of the note on key, or the zero hash.
func (t *noteTree) get(key [20]byte) (plumbing.Hash, error) {
	_, _, s, err := t.search(&t.root, 0, &key)
	if err != nil || s.kind != slotNote || s.key != key {
		return plumbing.ZeroHash, err
	}
	return s.hash, nil
}

// set makes blob the note on key.
func (t *noteTree) set(key [20]byte, blob plumbing.Hash) error {
	return t.insert(&t.root, 0, slot{kind: slotNote, key: key, hash: blob})
}

// remove deletes the note on key, folding up nodes left with one note
// (note_tree_remove and note_tree_consolidate).
func (t *noteTree) remove(key [20]byte) error {
	_, n, s, err := t.search(&t.root, 0, &key)
	if err != nil || s.kind != slotNote || s.key != key {
		return err
	}
	*s = slot{}
	stack := []*trieNode{&t.root}
	for i := 0; i < n; i++ {
		stack = append(stack, stack[i].a[nibble(&key, i)].node)
	}
	for i := n; i > 0; i-- {
		var only *slot
		count := 0
		for j := range stack[i].a {
			if stack[i].a[j].kind != slotEmpty {
				only = &stack[i].a[j]
				count++
			}
		}
		if count > 1 || count == 1 && only.kind != slotNote {
			break
		}
		parent := &stack[i-1].a[nibble(&key, i-1)]
		if count == 0 {
			*parent = slot{}
		} else {
			*parent = *only
		}
	}
	return nil
}

// determineFanout is notes.c's heuristic: at an even depth within the
// current fan-out, if all 16 children are inner nodes or subtrees, the notes
// below get one more level of directories.
func determineFanout(node *trieNode, n, fanout int) int {
	if n%2 == 1 || n > 2*fanout {
		return fanout
	}
	for i := range node.a {
		if k := node.a[i].kind; k != slotNode && k != slotSubtree {
			return fanout
		}
	}
	return fanout + 1
}

// fanoutPath is the path of key with fanout levels of directories:
// "ab/cd/ef01..." for 2.
func fanoutPath(key *[20]byte, fanout int) string {
	h := hex.EncodeToString(key[:])
	var b strings.Builder
	for i := range fanout {
		b.WriteString(h[2*i : 2*i+2])
		b.WriteByte('/')
	}
	b.WriteString(h[2*fanout:])
	return b.String()
}

// treeItem is an entry of the tree being written, by its full path.
type treeItem struct {
	path string
	mode filemode.FileMode
	hash plumbing.Hash
}

// walk lists the entries to write below node (for_each_note_helper with
// git's write flags: subtrees above the fan-out are kept as they are,
// others are loaded).
func (t *noteTree) walk(node *trieNode, n, fanout int, out *[]treeItem) error {
	fanout = determineFanout(node, n, fanout)
	for i := 0; i < 16; i++ {
		s := &node.a[i]
		switch s.kind {
		case slotNode:
			if err := t.walk(s.node, n+1, fanout, out); err != nil {
				return err
			}
		case slotNote:
			*out = append(*out, treeItem{fanoutPath(&s.key, fanout), filemode.Regular, s.hash})
		case slotSubtree:
			if n < 2*fanout {
				p := fanoutPath(&s.key, fanout)[:2*int(s.key[keyIndex])+fanout]
				*out = append(*out, treeItem{strings.TrimSuffix(p, "/"), filemode.Dir, s.hash})
				continue
			}
			sub := *s
			*s = slot{}
			if err := t.loadSubtree(sub, node, n); err != nil {
				return err
			}
			i-- // look at this child again
		}
	}
	return nil
}

// write stores the trees of the notes and returns the top one's hash.
func (t *noteTree) write() (plumbing.Hash, error) {
	var items []treeItem
	if err := t.walk(&t.root, 0, 0, &items); err != nil {
		return plumbing.ZeroHash, err
	}
	for _, nn := range t.nonNotes {
		items = append(items, treeItem(nn))
	}
	return writeTrees(t.store, items)
}

// writeTrees stores the trees that hold items, by path, and returns the top
// one's hash.
func writeTrees(s storer.EncodedObjectStorer, items []treeItem) (plumbing.Hash, error) {
	type dir struct {
		entries []object.TreeEntry
		subdirs map[string]*dir
	}
	top := &dir{subdirs: map[string]*dir{}}
	for _, it := range items {
		d := top
		parts := strings.Split(it.path, "/")
		for _, p := range parts[:len(parts)-1] {
			sub := d.subdirs[p]
			if sub == nil {
				sub = &dir{subdirs: map[string]*dir{}}
				d.subdirs[p] = sub
			}
			d = sub
		}
		d.entries = append(d.entries, object.TreeEntry{Name: path.Base(it.path), Mode: it.mode, Hash: it.hash})
	}
	var store func(d *dir) (plumbing.Hash, error)
	store = func(d *dir) (plumbing.Hash, error) {
		for name, sub := range d.subdirs {
			h, err := store(sub)
			if err != nil {
				return h, err
			}
			d.entries = append(d.entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		}
		slices.SortFunc(d.entries, func(a, b object.TreeEntry) int {
			return strings.Compare(treeSortName(a), treeSortName(b))
		})
		tree := &object.Tree{Entries: d.entries}
		o := s.NewEncodedObject()
		if err := tree.Encode(o); err != nil {
			return plumbing.ZeroHash, err
		}
		return s.SetEncodedObject(o)
	}
	return store(top)
}

// treeSortName is the name git sorts a tree entry by: directories as if
// they ended in "/".
func treeSortName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// allNotes lists every note in the notes tree with hash tree, at any
// fan-out.
func allNotes(s storer.EncodedObjectStorer, tree plumbing.Hash) (map[[20]byte]plumbing.Hash, error) {
	out := map[[20]byte]plumbing.Hash{}
	var walk func(h plumbing.Hash, prefix []byte) error
	walk = func(h plumbing.Hash, prefix []byte) error {
		t, err := readTree(s, h)
		if err != nil {
			return err
		}
		var key [20]byte
		copy(key[:], prefix)
		for _, e := range t.Entries {
			switch {
			case len(e.Name) == 2*(20-len(prefix)) && isBlobMode(e.Mode) && hexTo(key[len(prefix):], e.Name):
				out[key] = e.Hash
			case len(e.Name) == 2 && e.Mode == filemode.Dir && len(prefix) < 19 &&
				hexTo(key[len(prefix):len(prefix)+1], e.Name):
				if err := walk(e.Hash, key[:len(prefix)+1]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if tree.IsZero() {
		return out, nil
	}
	return out, walk(tree, nil)
}
