package artifact

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
)

//go:embed builtin
var builtinFS embed.FS

// builtinOverlays are the overlays `overlay "x" { builtin = "NAME" }` may
// name. Their files are rendered like a repository overlay's.
var builtinOverlays = map[string]bool{"hosts": true, "hostname": true, "fstab": true, "ssh_host_keys": true}

// initOverlay starts every system overlay: gitboot's /init (the files in
// builtin/init) and, added by the Builder from Config.Agent, the
// gitboot-agent binary at /usr/lib/gitboot/gitboot-agent (see withAgent).
const initOverlay = "\x00init"

// MaxOverlayFile bounds one file of a repository overlay: overlays are
// read into memory and every node's overlay archive holds them, so a huge
// file pushed by mistake must be a clear error, not an out-of-memory
// server.
const MaxOverlayFile = 64 << 20

// ovFile is one file of a loaded overlay.
type ovFile struct {
	name string // path in the node's root, template suffix removed
	src  string // path in the repository (or builtin tree), for errors
	mode uint32 // type and permission bits
	data []byte
	link string
	tmpl *template.Template
	deps deps
	res  resSel // the resource keys it reads
	// attr is what the overlay's file blocks declare for it (its mode is
	// applied to mode already); nil when none matches.
	attr *fileAttr
	// secret: an age-encrypted file (x.age delivered as x), data its
	// ciphertext; secrets: what a template reads through `secret` (nil:
	// nothing), secretSum a hash of those files' ciphertext (secrets.go).
	secret    bool
	secrets   *secretUse
	secretSum []byte
}

// overlay is an overlay read once per build.
type overlay struct {
	name  string
	decl  string // the declared overlay's name; "" for gitboot's init
	repo  bool   // its files are in the repository (not builtin)
	files []ovFile
	deps  deps     // union of its templates' deps
	res   resSel   // union of its templates' resource keys
	hash  [32]byte // of everything in files (names, modes, content, template text)
	// postApply is the declared overlay's post_apply command ("": none);
	// runtime overlay input keys include it (see overlayInput).
	postApply string
}

// loadOverlay reads an overlay from the repository (or the binary) and
// parses its templates.
func loadOverlay(c *hclspec.Cluster, name string) (*overlay, error) {
	var (
		fsys fs.FS
		root string
		// modes from an embed.FS are all 0444: builtin files get fixed modes
		builtin bool
	)
	switch {
	case name == initOverlay:
		fsys, root, builtin = builtinFS, "builtin/init", true
	default:
		o, ok := c.Overlay(name)
		if !ok {
			return nil, fmt.Errorf("overlay %s is not declared", name)
		}
		switch {
		case o.Builtin != "":
			if !builtinOverlays[o.Builtin] {
				return nil, fmt.Errorf("overlay %s: no builtin overlay %q (there are fstab, hosts, hostname, ssh_host_keys)", name, o.Builtin)
			}
			fsys, root, builtin = builtinFS, "builtin/"+o.Builtin, true
		case c.FS == nil:
			return nil, fmt.Errorf("overlay %s: the cluster has no repository to read %s from", name, o.Source)
		default:
			src := strings.Trim(path.Clean(o.Source), "/")
			if !fs.ValidPath(src) {
				return nil, fmt.Errorf("overlay %s: bad source %q", name, o.Source)
			}
			fsys, root = c.FS, src
		}
	}
	ov := &overlay{name: name, decl: name, repo: !builtin}
	if o, ok := c.Overlay(name); ok && name != initOverlay {
		ov.postApply = o.PostApply
	}
	if name == initOverlay {
		ov.name, ov.decl = "gitboot-init", ""
	}
	h := sha256.New()
	seen := map[string]string{}
	visit := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			if !d.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			return nil
		}
		rel := strings.TrimPrefix(p, root+"/")
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := ovFile{name: rel, src: p, mode: uint32(info.Mode().Perm())}
		if info.Mode()&fs.ModeSetuid != 0 {
			f.mode |= 0o4000
		}
		if info.Mode()&fs.ModeSetgid != 0 {
			f.mode |= 0o2000
		}
		if info.Mode()&fs.ModeSticky != 0 {
			f.mode |= 0o1000
		}
		switch {
		case d.IsDir():
			f.mode |= typeDir
			if builtin {
				f.mode = typeDir | 0o755
			}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(fsys, p)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			f.mode, f.link = typeSymlink|0o777, target
		case info.Mode().IsRegular():
			if info.Size() > MaxOverlayFile {
				return fmt.Errorf("%s: %d bytes; an overlay file may have at most %d MiB (ship large files in the image)", p, info.Size(), MaxOverlayFile>>20)
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			f.mode |= typeReg
			if builtin {
				f.mode = typeReg | builtinMode(strings.TrimPrefix(root, "builtin/"), strings.TrimSuffix(rel, ".tmpl"))
				if rel == "init" {
					f.mode = typeReg | 0o755
				}
			}
			f.data = data
			if strings.HasSuffix(rel, ".tmpl") {
				f.name = strings.TrimSuffix(rel, ".tmpl")
				t, dp, rs, err := parseTemplateSel(p, string(data))
				if err != nil {
					return err
				}
				f.tmpl, f.deps, f.res = t, dp, rs
				ov.deps |= dp
				ov.res = ov.res.union(rs)
				if f.secrets = templateSecrets(t); f.secrets != nil {
					sh := sha256.New()
					if err := hashSecretInputs(c.FS, &f, func(b []byte) { sh.Write(b) }); err != nil {
						return err
					}
					f.secretSum = sh.Sum(nil)
					h.Write(f.secretSum)
				}
				if usesSSHKeyFuncs(string(data)) {
					if err := bindSSHKeyFuncs(t, c.FS, func(b []byte) { h.Write(b) }); err != nil {
						return err
					}
				}
			} else if !builtin && strings.HasSuffix(rel, agesecret.Suffix) {
				if err := agesecret.WellFormed(data); err != nil {
					return &locError{overlay: ov.decl, file: p, atFile: true, err: fmt.Errorf("%s: %w", p, err)}
				}
				f.name, f.secret, f.mode = strings.TrimSuffix(rel, agesecret.Suffix), true, typeReg|0o600
			}
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, info.Mode().Type())
		}
		if other, dup := seen[f.name]; dup {
			return fmt.Errorf("%s and %s both write %s", other, p, f.name)
		}
		seen[f.name] = p
		if _, err := cleanName(f.name); err != nil || f.name == "" {
			return fmt.Errorf("%s: bad name", p)
		}
		var hdr [8]byte
		binary.LittleEndian.PutUint32(hdr[:4], f.mode)
		binary.LittleEndian.PutUint32(hdr[4:], uint32(len(f.data)))
		h.Write([]byte(f.name + "\x00" + f.link + "\x00"))
		h.Write(hdr[:])
		h.Write(f.data)
		ov.files = append(ov.files, f)
		return nil
	}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err := visit(p, d, err); err != nil {
			if p == root {
				p = "" // the overlay's source itself: its block is the place
			}
			return ov.locate(p, err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && len(ov.files) == 0 {
			return nil, fmt.Errorf("overlay %s: source %s: %w", name, root, err)
		}
		return nil, fmt.Errorf("overlay %s: %w", ov.name, err)
	}
	if o, ok := c.Overlay(name); ok && name != initOverlay && len(o.Files) > 0 {
		if err := ov.applyFileBlocks(o.Files, h); err != nil {
			return nil, fmt.Errorf("overlay %s: %w", ov.name, err)
		}
	}
	h.Sum(ov.hash[:0])
	return ov, nil
}

// renderKey identifies a node-independent rendering: a template and the
// hash of the data parts it reads. /etc/hosts for 10,000 nodes is rendered
// once per build.
type renderKey struct {
	tmpl *template.Template
	key  [32]byte
}

// addOverlay adds ov's files to t, rendering templates with renderFile.
// Later overlays overwrite earlier files. Owner and group names are
// resolved in img (nil: not at all, see imageView); origin, when not nil,
// records which overlay each path came from.
func addOverlay(t *tree, ov *overlay, renderFile func(*ovFile) ([]byte, error), img *imageView, origin map[string]string) error {
	for i := range ov.files {
		f := &ov.files[i]
		ino := &inode{mode: f.mode, link: f.link}
		if f.attr != nil {
			if err := img.owners(ov, f, ino); err != nil {
				return fmt.Errorf("overlay %s: %w", ov.name, err)
			}
		}
		if origin != nil {
			origin[f.name] = ov.name
		}
		if f.mode&typeMask == typeReg {
			b := f.data
			if f.tmpl != nil || f.secret {
				var err error
				if b, err = renderFile(f); err != nil {
					return fmt.Errorf("overlay %s: %w", ov.name, ov.locate(f.src, err))
				}
			}
			ino.data, ino.size = bytesContent(b), int64(len(b))
		}
		if err := t.put(f.name, ino); err != nil {
			return fmt.Errorf("overlay %s: %s: %w", ov.name, f.src, ov.locate(f.src, err))
		}
	}
	return nil
}
