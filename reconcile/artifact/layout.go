package artifact

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/gzip"
)

// extLayout is the store extension of an image's layout (gzip'd JSON).
const extLayout = ".layout.json.gz"

// Layout is what overlays must respect of one image: its symlinks, which
// paths are directories and which are something else, and the names of
// its users and groups. It is made when the image is read and stored
// beside the image artifact (its imageRecord names it), so a build that
// reuses the image still has it.
//
// Linux's initramfs unpacker applies overlay entries on top of the image
// one by one: a directory entry at a path the image has as a link (merged
// /usr: sbin -> usr/sbin) replaces the link with an empty directory, and a
// directory entry at one of the image's directories gives it the entry's
// owner and mode. Overlays are therefore written through the image's links
// and carry no entries for the image's directories (see placeTree).
type Layout struct {
	// Links maps each symlink's path to its target.
	Links map[string]string
	// Kinds holds every other path: kindDir or kindOther (a file, a
	// device, a FIFO, a socket).
	Kinds map[string]byte
	// Users and Groups map names to ids, from the image's /etc/passwd and
	// /etc/group (empty when it has none).
	Users, Groups map[string]uint32
	// Accounts holds the image's account files (accountFiles: those it
	// has), into which declared users and groups are merged (see
	// accounts.go). accountsKnown is false for a layout recorded before
	// layouts held them (version 1): the builder reads it again.
	Accounts      map[string]accountFile
	accountsKnown bool
}

// accountFile is one of an image's account files: its content, mode and
// owner.
type accountFile struct {
	Data     string `json:"data"`
	Mode     uint32 `json:"mode"` // permission bits
	UID, GID int
}

// accountFiles are the files Layout.Accounts keeps.
var accountFiles = []string{"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"}

// Path kinds in Layout.Kinds.
const (
	kindDir   = 'd'
	kindOther = 'f'
)

// maxIDFile bounds /etc/passwd and /etc/group as read from an image.
const maxIDFile = 16 << 20

// layoutOf records t's layout.
func layoutOf(t *tree) (*Layout, error) {
	l := &Layout{Links: map[string]string{}, Kinds: make(map[string]byte, t.entries), Users: map[string]uint32{}, Groups: map[string]uint32{},
		Accounts: map[string]accountFile{}, accountsKnown: true}
	_ = t.walk(func(p string, ino *inode) error {
		switch ino.mode & typeMask {
		case typeSymlink:
			l.Links[p] = ino.link
		case typeDir:
			l.Kinds[p] = kindDir
		default:
			l.Kinds[p] = kindOther
		}
		return nil
	})
	for _, x := range []struct {
		file string
		into map[string]uint32
	}{{"etc/passwd", l.Users}, {"etc/group", l.Groups}} {
		data, err := readTreeFile(t, x.file)
		if err != nil {
			return nil, err
		}
		parseIDFile(data, x.into)
	}
	for _, p := range accountFiles {
		data, err := readTreeFile(t, p)
		if err != nil {
			return nil, err
		}
		if _, ino, ok := t.resolve(p); ok && ino.mode&typeMask == typeReg {
			l.Accounts[p] = accountFile{Data: string(data), Mode: ino.mode & permMask, UID: ino.uid, GID: ino.gid}
		}
	}
	return l, nil
}

// readTreeFile reads a small regular file of t (links followed); nil when
// there is none.
func readTreeFile(t *tree, p string) ([]byte, error) {
	_, ino, ok := t.resolve(p)
	if !ok || ino.mode&typeMask != typeReg || ino.data == nil {
		return nil, nil
	}
	if ino.size > maxIDFile {
		return nil, fmt.Errorf("/%s: %d bytes; at most %d MiB", p, ino.size, maxIDFile>>20)
	}
	r, err := ino.data.open()
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", p, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, ino.size))
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", p, err)
	}
	return data, nil
}

// parseIDFile reads name:x:id:... lines (/etc/passwd, /etc/group); the
// first line for a name wins, as for getpwnam. Malformed lines are
// skipped.
func parseIDFile(data []byte, into map[string]uint32) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 4)
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := into[f[0]]; !dup {
			into[f[0]] = uint32(id)
		}
	}
}

// layoutFile is a Layout's stored form: sorted lists keep it small (a
// Debian image has some 30,000 paths).
type layoutFile struct {
	Version int               `json:"version"`
	Links   map[string]string `json:"links"`
	Dirs    []string          `json:"dirs"`
	Other   []string          `json:"other"`
	Users   map[string]uint32 `json:"users"`
	Groups  map[string]uint32 `json:"groups"`
	// Accounts: version 2 on.
	Accounts map[string]accountFile `json:"accounts,omitempty"`
}

// layoutVersion is the version encode writes; decodeLayout reads it and
// 1 (no Accounts).
const layoutVersion = 2

// encode returns l as gzip'd JSON; the same layout gives the same bytes.
func (l *Layout) encode() ([]byte, error) {
	f := layoutFile{Version: layoutVersion, Links: l.Links, Users: l.Users, Groups: l.Groups, Accounts: l.Accounts, Dirs: []string{}, Other: []string{}}
	for p, k := range l.Kinds {
		if k == kindDir {
			f.Dirs = append(f.Dirs, p)
		} else {
			f.Other = append(f.Other, p)
		}
	}
	slices.Sort(f.Dirs)
	slices.Sort(f.Other)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(zw).Encode(&f); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeLayout reads what encode wrote.
func decodeLayout(data []byte) (*Layout, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var f layoutFile
	if err := json.NewDecoder(zr).Decode(&f); err != nil {
		return nil, err
	}
	if f.Version != 1 && f.Version != layoutVersion {
		return nil, fmt.Errorf("layout version %d, this gitboot reads 1 and %d", f.Version, layoutVersion)
	}
	l := &Layout{Links: f.Links, Users: f.Users, Groups: f.Groups, Kinds: make(map[string]byte, len(f.Dirs)+len(f.Other)),
		Accounts: f.Accounts, accountsKnown: f.Version >= 2}
	if l.Accounts == nil {
		l.Accounts = map[string]accountFile{}
	}
	for _, p := range f.Dirs {
		l.Kinds[p] = kindDir
	}
	for _, p := range f.Other {
		l.Kinds[p] = kindOther
	}
	if l.Links == nil {
		l.Links = map[string]string{}
	}
	if l.Users == nil {
		l.Users = map[string]uint32{}
	}
	if l.Groups == nil {
		l.Groups = map[string]uint32{}
	}
	return l, nil
}

// storeLayout stores l in the store and returns its ref.
func (b *Builder) storeLayout(l *Layout) (ref, error) {
	data, err := l.encode()
	if err != nil {
		return ref{}, fmt.Errorf("encoding the image's layout: %w", err)
	}
	tmp, err := b.store.create()
	if err != nil {
		return ref{}, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.abort()
		return ref{}, fmt.Errorf("writing the image's layout: %w", err)
	}
	r, err := b.store.commit(tmp, extLayout)
	if err == nil {
		b.layouts[r.Hex] = l
	}
	return r, err
}

// layout returns the stored layout r names, read once per Builder.
func (b *Builder) layout(r ref) (*Layout, error) {
	if l, ok := b.layouts[r.Hex]; ok {
		return l, nil
	}
	if r.Hex == "" {
		return nil, errors.New("the image has no recorded layout")
	}
	data, err := os.ReadFile(b.store.path(r.Hex + extLayout))
	if err != nil {
		return nil, fmt.Errorf("reading the image's layout: %w", err)
	}
	l, err := decodeLayout(data)
	if err != nil {
		return nil, fmt.Errorf("reading the image's layout %s: %w", r.Hex[:12], err)
	}
	b.layouts[r.Hex] = l
	return l, nil
}

// maxLinkHops bounds the links followed resolving one path (Linux's
// limit).
const maxLinkHops = 40

// errLinkLoop reports a path whose resolution follows too many links.
var errLinkLoop = errors.New("too many levels of symbolic links")

// realpath resolves every component of p that is a link in the image, as
// if the image were the root (absolute targets start at its root, ".."
// stops there). Components the image lacks are kept as they are.
func (l *Layout) realpath(p string) (string, error) {
	todo := strings.Split(p, "/")
	done := ""
	hops := 0
	for len(todo) > 0 {
		part := todo[0]
		todo = todo[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			done = parentOf(done)
			continue
		}
		next := part
		if done != "" {
			next = done + "/" + part
		}
		target, ok := l.Links[next]
		if !ok {
			done = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", fmt.Errorf("/%s: %w", next, errLinkLoop)
		}
		if strings.HasPrefix(target, "/") {
			done = ""
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return done, nil
}

// isDir reports whether p (no links in it) is a directory of the image.
func (l *Layout) isDir(p string) bool { return p == "" || l.Kinds[p] == kindDir }

// layoutFromArtifact reads the layout of an image from its stored
// artifact (cpio newc, compressed): for an image recorded before layouts were,
// which is cheaper than reading the image's source again.
func (b *Builder) layoutFromArtifact(r ref) (*Layout, error) {
	f, err := os.Open(b.store.path(r.Hex + extImage))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, done, err := openArtifact(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, err
	}
	defer done()
	l := &Layout{Links: map[string]string{}, Kinds: map[string]byte{}, Users: map[string]uint32{}, Groups: map[string]uint32{},
		Accounts: map[string]accountFile{}, accountsKnown: true}
	cr := cpio.NewReader(zr)
	for {
		h, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		p, err := cleanName(h.Name)
		if err != nil || p == "" {
			continue
		}
		switch uint32(h.Mode) & typeMask {
		case typeSymlink:
			l.Links[p] = h.Linkname
		case typeDir:
			l.Kinds[p] = kindDir
		default:
			l.Kinds[p] = kindOther
			if !slices.Contains(accountFiles, p) || uint32(h.Mode)&typeMask != typeReg || h.Size > maxIDFile {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(cr, h.Size))
			if err != nil {
				return nil, err
			}
			l.Accounts[p] = accountFile{Data: string(data), Mode: uint32(h.Mode) & permMask, UID: h.Uid, GID: h.Guid}
			if into := map[string]map[string]uint32{"etc/passwd": l.Users, "etc/group": l.Groups}[p]; into != nil {
				parseIDFile(data, into)
			}
		}
	}
	return l, nil
}
