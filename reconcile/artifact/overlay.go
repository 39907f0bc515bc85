package artifact

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
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
	fsys, root, builtin, err := overlaySource(c, name)
	if err != nil {
		return nil, err
	}
	ov := &overlay{name: name, decl: name, repo: !builtin}
	if o, ok := c.Overlay(name); ok && name != initOverlay {
		ov.postApply = o.PostApply
	}
	if name == initOverlay {
		ov.name, ov.decl = "gitboot-init", ""
	}
	w := &overlayWalk{c: c, ov: ov, fsys: fsys, root: root, builtin: builtin, h: sha256.New(), seen: map[string]string{}}
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err := w.visit(p, d, err); err != nil {
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
		if err := ov.applyFileBlocks(o.Files, w.h); err != nil {
			return nil, fmt.Errorf("overlay %s: %w", ov.name, err)
		}
	}
	w.h.Sum(ov.hash[:0])
	return ov, nil
}

// overlaySource says where overlay name's files are: gitboot's init and
// builtin overlays in the binary (builtin true), others in the cluster's
// repository under their source directory.
func overlaySource(c *hclspec.Cluster, name string) (fsys fs.FS, root string, builtin bool, err error) {
	if name == initOverlay {
		return builtinFS, "builtin/init", true, nil
	}
	o, ok := c.Overlay(name)
	if !ok {
		return nil, "", false, fmt.Errorf("overlay %s is not declared", name)
	}
	switch {
	case o.Builtin != "":
		if !builtinOverlays[o.Builtin] {
			return nil, "", false, fmt.Errorf("overlay %s: no builtin overlay %q (there are fstab, hosts, hostname, ssh_host_keys)", name, o.Builtin)
		}
		return builtinFS, "builtin/" + o.Builtin, true, nil
	case c.FS == nil:
		return nil, "", false, fmt.Errorf("overlay %s: the cluster has no repository to read %s from", name, o.Source)
	default:
		src := strings.Trim(path.Clean(o.Source), "/")
		if !fs.ValidPath(src) {
			return nil, "", false, fmt.Errorf("overlay %s: bad source %q", name, o.Source)
		}
		return c.FS, src, false, nil
	}
}

// overlayWalk is one loadOverlay walk over an overlay's source tree: it
// fills ov's files and hashes everything it reads into h.
type overlayWalk struct {
	c    *hclspec.Cluster
	ov   *overlay
	fsys fs.FS
	root string
	// builtin: the files come from an embed.FS, whose modes are all 0444,
	// so they get fixed modes
	builtin bool
	h       hash.Hash
	seen    map[string]string // node path -> source path that writes it
}

// visit is the fs.WalkDir function: it turns the entry at p into an ovFile
// of the overlay.
func (w *overlayWalk) visit(p string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if p == w.root {
		if !d.IsDir() {
			return fmt.Errorf("%s is not a directory", p)
		}
		return nil
	}
	rel := strings.TrimPrefix(p, w.root+"/")
	info, err := d.Info()
	if err != nil {
		return err
	}
	f := ovFile{name: rel, src: p, mode: permBits(info.Mode())}
	switch {
	case d.IsDir():
		f.mode |= typeDir
		if w.builtin {
			f.mode = typeDir | 0o755
		}
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := fs.ReadLink(w.fsys, p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		f.mode, f.link = typeSymlink|0o777, target
	case info.Mode().IsRegular():
		if err := w.readRegular(&f, rel, info); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: unsupported file type %v", p, info.Mode().Type())
	}
	return w.add(f)
}

// permBits is m's permission bits with setuid, setgid and sticky in their
// Unix places.
func permBits(m fs.FileMode) uint32 {
	mode := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// readRegular reads the regular file f (at rel in the overlay) into f.data
// and sets its mode; a .tmpl file is parsed as a template, a repository's
// .age file becomes a secret delivered without the suffix.
func (w *overlayWalk) readRegular(f *ovFile, rel string, info fs.FileInfo) error {
	p := f.src
	if info.Size() > MaxOverlayFile {
		return fmt.Errorf("%s: %d bytes; an overlay file may have at most %d MiB (ship large files in the image)", p, info.Size(), MaxOverlayFile>>20)
	}
	data, err := fs.ReadFile(w.fsys, p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	f.mode |= typeReg
	if w.builtin {
		f.mode = typeReg | builtinMode(strings.TrimPrefix(w.root, "builtin/"), strings.TrimSuffix(rel, ".tmpl"))
		if rel == "init" {
			f.mode = typeReg | 0o755
		}
	}
	f.data = data
	if strings.HasSuffix(rel, ".tmpl") {
		f.name = strings.TrimSuffix(rel, ".tmpl")
		return w.parseTemplate(f)
	}
	if !w.builtin && strings.HasSuffix(rel, agesecret.Suffix) {
		if err := agesecret.WellFormed(data); err != nil {
			return &locError{overlay: w.ov.decl, file: p, atFile: true, err: fmt.Errorf("%s: %w", p, err)}
		}
		f.name, f.secret, f.mode = strings.TrimSuffix(rel, agesecret.Suffix), true, typeReg|0o600
	}
	return nil
}

// parseTemplate parses template file f, adds what it reads to the
// overlay's deps and resource keys, and hashes the inputs it reads besides
// its own text: the ciphertext of the secrets it decrypts and the SSH keys
// it binds.
func (w *overlayWalk) parseTemplate(f *ovFile) error {
	t, dp, rs, err := parseTemplateSel(f.src, string(f.data))
	if err != nil {
		return err
	}
	f.tmpl, f.deps, f.res = t, dp, rs
	w.ov.deps |= dp
	w.ov.res = w.ov.res.union(rs)
	if f.secrets = templateSecrets(t); f.secrets != nil {
		sh := sha256.New()
		if err := hashSecretInputs(w.c.FS, f, func(b []byte) { sh.Write(b) }); err != nil {
			return err
		}
		f.secretSum = sh.Sum(nil)
		w.h.Write(f.secretSum)
	}
	if usesSSHKeyFuncs(string(f.data)) {
		if err := bindSSHKeyFuncs(t, w.c.FS, func(b []byte) { w.h.Write(b) }); err != nil {
			return err
		}
	}
	return nil
}

// add checks f's name (unique in the overlay, clean) and appends it to the
// overlay, hashing its name, link, mode and content.
func (w *overlayWalk) add(f ovFile) error {
	if other, dup := w.seen[f.name]; dup {
		return fmt.Errorf("%s and %s both write %s", other, f.src, f.name)
	}
	w.seen[f.name] = f.src
	if _, err := cleanName(f.name); err != nil || f.name == "" {
		return fmt.Errorf("%s: bad name", f.src)
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], f.mode)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(f.data)))
	w.h.Write([]byte(f.name + "\x00" + f.link + "\x00"))
	w.h.Write(hdr[:])
	w.h.Write(f.data)
	w.ov.files = append(w.ov.files, f)
	return nil
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
