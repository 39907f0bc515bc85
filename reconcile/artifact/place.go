package artifact

import (
	"encoding/binary"
	"fmt"
	"hash"
	"path"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
)

// fileAttr is what an overlay's `file` blocks declare for one of its files
// (the later block wins per attribute).
type fileAttr struct {
	mode             uint32 // permission bits, when modeSet
	modeSet          bool
	owner, group     string // a name or a number; "" unset (root)
	ownerAt, groupAt hcl.Range
}

// applyFileBlocks matches the overlay's file blocks against its files
// (directories included; a template by its output name), applies their
// modes, records owners and groups, and hashes the result into h so a
// changed mode or owner changes the overlay. A block that matches nothing
// is an error at the block: it is most likely a typo that would leave a
// secret world-readable.
func (ov *overlay) applyFileBlocks(blocks []*hclspec.FileAttr, h hash.Hash) error {
	matched := make([]bool, len(blocks))
	for i := range ov.files {
		f := &ov.files[i]
		var a *fileAttr
		for j, fb := range blocks {
			if ok, _ := path.Match(fb.Glob, f.name); !ok {
				continue
			}
			matched[j] = true
			if a == nil {
				a = &fileAttr{}
			}
			if fb.ModeSet {
				a.mode, a.modeSet = fb.Mode, true
			}
			if fb.Owner != "" {
				a.owner, a.ownerAt = fb.Owner, fb.OwnerRange
			}
			if fb.Group != "" {
				a.group, a.groupAt = fb.Group, fb.GroupRange
			}
		}
		if a == nil {
			continue
		}
		f.attr = a
		if a.modeSet {
			f.mode = f.mode&^permMask | a.mode
		}
		var m [4]byte
		binary.LittleEndian.PutUint32(m[:], f.mode)
		h.Write([]byte("attr\x00" + f.name + "\x00" + a.owner + "\x00" + a.group + "\x00"))
		h.Write(m[:])
	}
	for j, ok := range matched {
		if !ok {
			fb := blocks[j]
			return &locError{overlay: ov.decl, subject: fb.Range.Ptr(),
				err: fmt.Errorf("file %q matches no file or directory of the overlay (globs are relative to its source; * does not match /)", fb.Glob)}
		}
	}
	return nil
}

// imageView is a node's image as its overlays are assembled on top of it.
// A nil view or one without a layout (Check, which does not read images)
// leaves paths as they are and owner names unresolved.
type imageView struct {
	name string
	lay  *Layout
	comp string // the image's compression, which its overlays follow
	// users and groups are the node's declared accounts (withAccounts),
	// which owner names may name too; nil: none.
	users, groups map[string]uint32
}

// compression is the compression of overlays placed on img (gzip without
// an image).
func (img *imageView) compression() string {
	if img == nil {
		return hclspec.CompressionGzip
	}
	return compressionOf(img.comp)
}

// owners sets ino's uid and gid from f's declared owner and group, and
// marks it declared (a directory entry is then written even where the
// image has the directory, see placeTree).
func (img *imageView) owners(ov *overlay, f *ovFile, ino *inode) error {
	ino.declared = true
	for _, x := range []struct {
		what, v, file string
		at            hcl.Range
		dst           *int
	}{{"owner", f.attr.owner, "/etc/passwd", f.attr.ownerAt, &ino.uid}, {"group", f.attr.group, "/etc/group", f.attr.groupAt, &ino.gid}} {
		if x.v == "" {
			continue
		}
		if id, ok := hclspec.ParseID(x.v); ok {
			*x.dst = int(id)
			continue
		}
		declared := img.declaredIDs(x.what == "group")
		if id, ok := declared[x.v]; ok {
			*x.dst = int(id)
			continue
		}
		if img == nil || img.lay == nil {
			continue // not checkable here
		}
		ids := img.lay.Users
		if x.what == "group" {
			ids = img.lay.Groups
		}
		id, ok := ids[x.v]
		if !ok {
			return &locError{overlay: ov.decl, subject: x.at.Ptr(),
				err: fmt.Errorf("%s %q of %s is not in %s of image %s", x.what, x.v, f.name, x.file, img.name)}
		}
		*x.dst = int(id)
	}
	return nil
}

// placeTree returns the tree of overlay entries as the kernel must unpack
// them on top of the image: every path written through the image's links
// (sbin/foo -> usr/sbin/foo), and the entries of directories the image has
// marked skip (writeCPIO leaves them out) unless a file block declared
// them, so the image's directories keep their owners and modes. A path the
// image has as a file where the overlay needs a directory (or the reverse)
// is an error naming the overlay (from origin), the path and the image.
func placeTree(t *tree, img *imageView, origin map[string]string) (*tree, error) {
	l := img.lay
	out := newTree()
	err := t.walk(func(p string, ino *inode) error {
		dir := ino.mode&typeMask == typeDir
		rp, err := l.place(p, dir)
		if err != nil {
			return img.conflict(origin, p, err)
		}
		if old, ok := out.lookup(rp); ok && dir && old.ino.mode&typeMask == typeDir && old.ino.declared && !ino.declared {
			return nil // sbin and usr/sbin both: keep the declared one
		}
		if err := out.put(rp, ino); err != nil {
			return img.conflict(origin, p, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	_ = out.walk(func(p string, ino *inode) error {
		if ino.mode&typeMask == typeDir && !ino.declared && l.isDir(p) {
			ino.skip = true
		}
		return nil
	})
	return out, nil
}

// place returns where an overlay entry at p goes in the image: its
// directories resolved through the image's links (a directory entry's own
// name too; a file, link or device replaces what is at its name, unless
// that is a link to one of the image's directories). It fails
// when a directory on the way is a file of the image or a link that does
// not lead to one of its directories (a link to a file, a dangling link),
// or when a non-directory would replace one of the image's directories.
func (l *Layout) place(p string, dir bool) (string, error) {
	d, base := p, ""
	if !dir {
		d, base = parentOf(p), path.Base(p)
	}
	rd, err := l.realpath(d)
	if err != nil {
		return "", err
	}
	if rd != d {
		for q := d; q != ""; q = parentOf(q) {
			target, ok := l.Links[q]
			if !ok {
				continue
			}
			rq, err := l.realpath(q)
			if err != nil {
				return "", err
			}
			if !l.isDir(rq) {
				return "", fmt.Errorf("needs a directory at /%s, which the image has as a link to %s, not to a directory", q, target)
			}
		}
	}
	for q := rd; q != ""; q = parentOf(q) {
		if l.Kinds[q] == kindOther {
			how := ""
			if q != d {
				how = fmt.Sprintf(" (/%s leads there through the image's links)", d)
			}
			return "", fmt.Errorf("needs a directory at /%s, which the image has as a file%s", q, how)
		}
	}
	if dir {
		return rd, nil
	}
	rp := base
	if rd != "" {
		rp = rd + "/" + base
	}
	if l.Kinds[rp] == kindDir {
		return "", fmt.Errorf("would replace the image's directory /%s with a file", rp)
	}
	if target, ok := l.Links[rp]; ok {
		if rt, err := l.realpath(rp); err == nil && l.isDir(rt) {
			return "", fmt.Errorf("would replace the image's link /%s -> %s, a directory, with a file", rp, target)
		}
	}
	return rp, nil
}

// conflict reports that overlay path p cannot be placed in the image.
func (img *imageView) conflict(origin map[string]string, p string, err error) error {
	ov := origin[p]
	if ov == "" {
		for k, v := range origin { // an implicit directory: one of its files
			if strings.HasPrefix(k, p+"/") && (ov == "" || v < ov) {
				ov = v
			}
		}
	}
	return &locError{overlay: ov, err: fmt.Errorf("overlay %s: /%s: %w (image %s)", ov, p, err, img.name)}
}
