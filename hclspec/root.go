package hclspec

import (
	"strconv"
	"strings"
)

// The root file system of a node (the profile/node attribute `root`).
const (
	// RootInitramfs: the kernel's unpacked initramfs stays the root (the
	// default). It is no mount, so pivot_root fails in it.
	RootInitramfs = "initramfs"
	// RootTmpfs: gitboot's /init moves the unpacked tree into a tmpfs of
	// root_size and switch_roots into it, so the root is a real mount
	// (podman, apptainer and enroot pivot_root) and its size is capped.
	RootTmpfs = "tmpfs"
	// DefaultRootSize is root_size when unset: half the node's RAM.
	DefaultRootSize = "50%"
)

// maxRootSize bounds the length of root_size ("100%", "512G").
const maxRootSize = 20

// decodeRoot reads root and root_size into s, with a diagnostic at the
// value for anything else.
func decodeRoot(a *attrs, s *settings) {
	if v, at, ok := a.str("root"); ok {
		if v == RootInitramfs || v == RootTmpfs {
			s.root = setting[string]{v: v, rng: at.Expr.Range(), set: true}
		} else {
			a.valueErr(at, "Invalid root",
				`root must be %q (the unpacked initramfs is the root, the default) or %q (moved into a tmpfs of root_size, so pivot_root works), not %q.`,
				RootInitramfs, RootTmpfs, v)
		}
	}
	if v, at, ok := a.str("root_size"); ok {
		if why := checkRootSize(v); why != "" {
			a.valueErr(at, "Invalid root_size", "root_size %q: %s; want a share of the node's RAM such as %q, or a size such as \"8G\" or \"512M\".", v, why, DefaultRootSize)
		} else {
			s.rootSize = setting[string]{v: v, rng: at.Expr.Range(), set: true}
		}
	}
}

// checkRootSize says what is wrong with a root_size ("" nothing): a
// percentage of RAM from 1% to 100%, or a whole number of bytes with an
// optional k, m, g or t suffix (either case), as tmpfs's size= takes it.
func checkRootSize(v string) string {
	if v == "" || len(v) > maxRootSize {
		return "empty or too long"
	}
	if num, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || num[0] == '+' || num[0] == '-' {
			return "not a whole percentage"
		}
		if n < 1 || n > 100 {
			return "a percentage from 1% to 100%"
		}
		return ""
	}
	num := v
	if c := v[len(v)-1]; strings.ContainsRune("kKmMgGtT", rune(c)) {
		num = v[:len(v)-1]
	}
	n, err := strconv.ParseUint(num, 10, 64)
	switch {
	case err != nil || num[0] == '+':
		return "not a size"
	case n == 0:
		return "zero"
	}
	return ""
}

// applyRoot merges root and root_size of o over m (later wins).
func (m *settings) applyRoot(o settings) {
	if o.root.set {
		m.root = o.root
	}
	if o.rootSize.set {
		m.rootSize = o.rootSize
	}
}

// mergeRoot sets the node's Root and RootSize from the merged settings,
// with their defaults.
func mergeRoot(n *Node, m *settings) {
	n.Root, n.RootSize = RootInitramfs, DefaultRootSize
	setOrigin(n, "root", m.root, func(v string) { n.Root = v })
	setOrigin(n, "root_size", m.rootSize, func(v string) { n.RootSize = v })
}

// hashRoot is what the desired-state hash holds of the root: nothing for
// the default initramfs root (so a repository that never sets it hashes as
// before), the kind and size for a tmpfs root, and a root_size other than
// the default (it reaches a node whose image boots in two stages, whose
// root is always a tmpfs).
func hashRoot(n *Node) string {
	if n.Root != RootTmpfs && n.RootSize == DefaultRootSize {
		return ""
	}
	return n.Root + " " + n.RootSize
}
