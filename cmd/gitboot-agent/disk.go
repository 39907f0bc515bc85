package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// maxLinks bounds the symlinks followed for one path (Linux's own limit).
const maxLinks = 40

// diskView is what apply found on disk, looked up once per path with
// Lstat (never following a symlink).
type diskView struct {
	root *safeRoot
	seen map[string]fs.FileInfo // nil: does not exist
	// owned are the paths the previous overlays installed (the manifest's
	// files): a symlink among them is never written through.
	owned map[string]bool
}

func (d *diskView) lstat(p string) (fs.FileInfo, error) {
	if fi, ok := d.seen[p]; ok {
		return fi, nil
	}
	fi, err := d.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.seen[p] = fi
	return fi, nil
}

// resolveAll rewrites each entry's name through the image's symlinks
// (resolve), remembering the archive's name in e.shipped, and checks the
// rewritten overlay again as readOverlay checked the archive: no two
// entries at one path, none below another that is not a directory, none
// in the agent's state directory. Entries come back sorted by name.
func (d *diskView) resolveAll(ents []entry) ([]entry, error) {
	// Where the agent's own files really are, when the image links a
	// directory above them (var -> persist/var): out of reach too.
	state := stateDir
	if r, err := d.resolve(stateDir, true); err == nil && r != "" {
		state = r
	}
	moved := false
	for i := range ents {
		e := &ents[i]
		r, err := d.resolve(e.name, e.isDir())
		if err != nil {
			return nil, err
		}
		if r == "" {
			return nil, &refusal{e.name, "is a directory in the overlay and a symlink to the root itself on the node"}
		}
		for _, sd := range []string{stateDir, state} {
			if (r == sd || strings.HasPrefix(r, sd+"/")) && e.name != overlaysName {
				return nil, &refusal{e.name, "would be written into the agent's own state directory /" + sd}
			}
		}
		if r != e.name {
			e.shipped, e.name, moved = e.name, r, true
		}
	}
	if !moved {
		return ents, nil
	}
	slices.SortFunc(ents, func(x, y entry) int { return strings.Compare(x.name, y.name) })
	kind := make(map[string]uint32, len(ents))
	for i, e := range ents {
		if i > 0 && ents[i-1].name == e.name {
			return nil, &refusal{e.shippedName(), "and " + ents[i-1].shippedName() + " both land at /" + e.name + " through the node's symlinks"}
		}
		kind[e.name] = e.mode & typeMask
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			if t, ok := kind[p]; ok && t != typeDir {
				return nil, &refusal{e.shippedName(), "lands at /" + e.name + ", below " + p + ", which the overlay makes a symlink or file"}
			}
		}
	}
	return ents, nil
}

// resolve returns where name lands on the node: each directory on its
// path that is a symlink of the image (one no overlay installed) is
// replaced by the directory it points to, so "sbin/foo" becomes
// "usr/sbin/foo" when the image has /sbin -> usr/sbin. A directory entry
// at such a link lands on the link's directory too; a file or symlink
// entry replaces whatever is at its own name. The rest of a path that
// does not exist yet is kept as it is (apply creates it). A link that an
// overlay installed, that leaves the root (absolute targets are read
// against the root, so only ".." can), that points to nothing or to a
// file, or a loop, refuses the overlay.
func (d *diskView) resolve(name string, isDir bool) (string, error) {
	parts := strings.Split(name, "/")
	cur := ""
	for i, c := range parts {
		next := joinRel(cur, c)
		if i == len(parts)-1 && !isDir {
			return next, nil
		}
		fi, err := d.lstat(next)
		if err != nil {
			return "", err
		}
		if fi == nil || (!fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0) {
			// Missing (created by apply), or a file (check refuses it).
			return path.Join(append([]string{next}, parts[i+1:]...)...), nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			budget := maxLinks
			next, err = d.follow(name, next, &budget)
			if err != nil {
				return "", err
			}
		}
		cur = next
	}
	return cur, nil
}

// follow returns the directory the image's symlink at p points to,
// resolved itself ("" is the root). name is the entry, for refusals;
// budget the links it may still follow (all of them, as Linux counts).
func (d *diskView) follow(name, p string, budget *int) (string, error) {
	if d.owned[p] {
		return "", &refusal{name, "would be written through the symlink /" + p + ", which an earlier overlay installed"}
	}
	if *budget--; *budget < 0 {
		return "", &refusal{name, "would be written through more than 40 symlinks (the last at /" + p + ")"}
	}
	target, err := d.root.Readlink(p)
	if err != nil {
		return "", err
	}
	cur := path.Dir(p)
	if cur == "." || strings.HasPrefix(target, "/") {
		cur = ""
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", &refusal{name, "would be written through the symlink /" + p + " -> " + target + ", which leaves the root"}
			}
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := joinRel(cur, c)
		fi, err := d.lstat(next)
		if err != nil {
			return "", err
		}
		switch {
		case fi == nil:
			return "", &refusal{name, "would be written through the symlink /" + p + " -> " + target + ", and /" + next + " does not exist on the node"}
		case fi.Mode()&fs.ModeSymlink != 0:
			if next, err = d.follow(name, next, budget); err != nil {
				return "", err
			}
		case !fi.IsDir():
			return "", &refusal{name, "would be written through the symlink /" + p + " -> " + target + ", and /" + next + " is not a directory"}
		}
		cur = next
	}
	return cur, nil
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// check refuses an overlay (its names resolved) that would swap a
// directory for a file or symlink (or the reverse), or write below a file.
func (d *diskView) check(ents []entry) error {
	for i := range ents {
		e := &ents[i]
		for _, p := range parents(e.name) {
			fi, err := d.lstat(p)
			if err != nil {
				return err
			}
			switch {
			case fi == nil:
			case fi.Mode()&fs.ModeSymlink != 0: // resolve follows all others
				return &refusal{e.shippedName(), "would be written through the symlink /" + p + " on the node"}
			case !fi.IsDir():
				return &refusal{e.shippedName(), "needs /" + p + " to be a directory, and it is a file on the node"}
			}
		}
		fi, err := d.lstat(e.name)
		if err != nil || fi == nil {
			if err != nil {
				return err
			}
			continue
		}
		switch {
		case e.isDir() && fi.Mode()&fs.ModeSymlink != 0:
			return &refusal{e.shippedName(), "is a directory in the overlay and a symlink on the node (writing below it would follow the symlink)"}
		case e.isDir() && !fi.IsDir():
			return &refusal{e.shippedName(), "is a directory in the overlay and a file on the node"}
		case !e.isDir() && fi.IsDir():
			return &refusal{e.shippedName(), "is a file or symlink in the overlay and a directory on the node"}
		}
	}
	return nil
}

// parents returns the directories above p, outermost first.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		out = append(out, d)
	}
	slices.Reverse(out)
	return out
}

// mkdirParents creates the missing directories above p (0755, the
// archive did not name them) and returns those it created.
func (d *diskView) mkdirParents(p string) ([]string, error) {
	var created []string
	for _, dir := range parents(p) {
		fi, err := d.lstat(dir)
		if err != nil {
			return created, err
		}
		if fi != nil {
			continue
		}
		if err := d.root.Mkdir(dir, 0o755); err != nil {
			return created, fmt.Errorf("creating /%s: %w", dir, err)
		}
		created = append(created, dir)
		d.seen[dir] = dirInfo{}
	}
	return created, nil
}

// dirInfo stands for a directory the agent just created.
type dirInfo struct{ fs.FileInfo }

func (dirInfo) IsDir() bool       { return true }
func (dirInfo) Mode() fs.FileMode { return fs.ModeDir | 0o755 }
