package artifact

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// RenderedFile is one entry of a node's system or runtime overlay, as the
// archive holds it: its path written through the image's links, its
// owner and mode from the overlay's file blocks.
type RenderedFile struct {
	Path    string `json:"path"`    // in the node's root, no leading /
	Overlay string `json:"overlay"` // its overlay ("gitboot-init": gitboot's own; "" for a directory made for its files)
	Kind    string `json:"kind"`    // "system" or "runtime"
	Type    string `json:"type"`    // "file", "dir", "link"
	Mode    uint32 `json:"mode"`    // permission bits (with setuid, setgid, sticky)
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	Size    int64  `json:"size"`
	Link    string `json:"link,omitempty"` // a link's target
	// Sensitive: a decrypted secret (or a template's output with one):
	// never decrypted by Render, its content shows as SensitiveValue and
	// its size as 0.
	Sensitive bool `json:"sensitive,omitempty"`
}

// NodeRender is what one node gets from its overlays (see Render).
type NodeRender struct {
	Node  string
	Image string
	// Placed is false when the image's layout is not known where Render
	// ran (the image was never built in its state directory): paths are
	// then as in the overlays and owner names are not resolved (their
	// ids show as 0).
	Placed bool
	// Files lists the system overlay's entries, then the runtime
	// overlay's, each sorted by path. A path in both is the runtime
	// overlay's on a running node.
	Files   []RenderedFile
	content map[string][]byte // "kind\x00path" -> bytes
	lay     *Layout           // the image's, when Placed
}

// Content returns the bytes of the regular file at p ("/etc/hosts" or
// "etc/hosts"; a path under one of the image's links is looked up through
// it) as the node gets it: the runtime overlay's when both have it.
func (r *NodeRender) Content(p string) (data []byte, f RenderedFile, ok bool) {
	p = strings.TrimPrefix(p, "/")
	if r.lay != nil {
		if rp, err := r.lay.place(p, false); err == nil {
			p = rp
		}
	}
	for _, kind := range []string{"runtime", "system"} {
		for _, rf := range r.Files {
			if rf.Kind == kind && rf.Path == p && rf.Type == "file" {
				return r.content[kind+"\x00"+p], rf, true
			}
		}
	}
	return nil, RenderedFile{}, false
}

// Render renders node's system and runtime overlays as a build for
// server ("": as Build picks) would, without storing anything: for
// `gitboot overlay render`. The image's layout comes from the artifact
// store under stateDir ("": none), as recorded by the last builds there;
// agent is the gitboot-agent binary to list ("": none). A repository
// problem is a *RepoError.
func Render(stateDir string, c *hclspec.Cluster, server, node, agent string) (*NodeRender, error) {
	srv, err := buildServer(c, server)
	if err != nil {
		return nil, err
	}
	n, ok := c.Node(node)
	if !ok {
		return nil, fmt.Errorf("no node %q", node)
	}
	if !containsNode(servedNodes(c, srv), n) {
		return nil, fmt.Errorf("node %s is not served by server %s", node, srv.Name)
	}
	var ag []ovFile
	if agent != "" {
		a, err := readAgent(agent)
		if err != nil {
			return nil, err
		}
		ag = []ovFile{*a}
	}
	out := &NodeRender{Node: n.Name, Image: n.Image, content: map[string][]byte{}}
	var img *imageView
	if stateDir != "" {
		img = recordedView(stateDir, c, n.Image)
		if img != nil {
			out.Placed, out.lay = true, img.lay
		}
	}
	ds := newDataSet(c, srv)
	ds.sec = newSecretBox(c.FS, nil, []byte(SensitiveValue)) // never decrypted
	var cache sync.Map
	err = nodeInputs(c, ds, []*hclspec.Node{n}, ag, func(n *hclspec.Node, _ nodeRecord, sys, rt []*overlay) {
		for _, x := range []struct {
			kind string
			ovs  []*overlay
		}{{"system", sys}, {"runtime", rt}} {
			if err != nil {
				return
			}
			err = out.add(x.kind, x.ovs, n, ds, &cache, img)
		}
	})
	if err != nil {
		var re *RepoError
		if !errors.As(err, &re) {
			err = &RepoError{fmt.Errorf("node %s: %w", node, err)}
		}
		return nil, err
	}
	return out, nil
}

func containsNode(nodes []*hclspec.Node, n *hclspec.Node) bool {
	for _, x := range nodes {
		if x == n {
			return true
		}
	}
	return false
}

// add renders one overlay kind of the node into r.
func (r *NodeRender) add(kind string, ovs []*overlay, n *hclspec.Node, ds *dataSet, cache *sync.Map, img *imageView) error {
	// The tree as assembled (for each path's overlay), then as placed.
	t, err := assembleOverlay(ovs, kind == "runtime", n, ds, cache, nil)
	if err != nil {
		return err
	}
	origin := map[string]string{}
	isDir := map[string]bool{}
	sensitive := map[string]bool{}
	for _, ov := range ovs {
		for _, f := range ov.files {
			origin[f.name] = ov.name
			isDir[f.name] = f.mode&typeMask == typeDir
			sensitive[f.name] = f.hasSecret() // a later overlay's file replaces it
		}
	}
	if kind == "runtime" && hasPostApply(ovs) {
		origin[PostApplyFile] = "gitboot"
	}
	acct := ds.accounts[n.Name]
	if acct != nil && (kind == "system" || acct.hashes) {
		for _, p := range accountFiles {
			if kind == "system" || p == "etc/shadow" {
				origin[p] = accountsOrigin
				sensitive[p] = kind == "runtime" // the password hashes
			}
		}
	}
	placedOrigin := origin
	if img != nil {
		if t, err = assembleOverlay(ovs, kind == "runtime", n, ds, cache, img); err != nil {
			return err
		}
		placedOrigin = make(map[string]string, len(origin))
		for p, ov := range origin {
			if rp, err := img.lay.place(p, isDir[p]); err == nil {
				placedOrigin[rp] = ov
				sensitive[rp] = sensitive[p]
			}
		}
	}
	var files []RenderedFile
	_ = t.walk(func(p string, ino *inode) error {
		if ino.skip {
			return nil
		}
		rf := RenderedFile{Path: p, Overlay: placedOrigin[p], Kind: kind, Mode: ino.mode & permMask, UID: ino.uid, GID: ino.gid}
		switch ino.mode & typeMask {
		case typeDir:
			rf.Type = "dir"
		case typeSymlink:
			rf.Type, rf.Link, rf.Size = "link", ino.link, int64(len(ino.link))
		default:
			rf.Type, rf.Size, rf.Sensitive = "file", ino.size, sensitive[p]
			if rf.Sensitive {
				rf.Size = 0
			}
			if b, ok := ino.data.(bytesContent); ok {
				r.content[kind+"\x00"+p] = b
			}
			if rf.Sensitive && placedOrigin[p] == accountsOrigin {
				r.content[kind+"\x00"+p] = []byte(SensitiveValue) // never the password hashes
			}
		}
		files = append(files, rf)
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	r.Files = append(r.Files, files...)
	return nil
}

// recordedView returns the layout of image as the builds in stateDir
// recorded it, nil when they did not (or its source changed since).
func recordedView(stateDir string, c *hclspec.Cluster, image string) *imageView {
	return readOnlyBuilder(stateDir).recordedView(c, image, nil)
}

// readOnlyBuilder returns a Builder on stateDir's store that only reads it
// (New would remove a running server's temporaries).
func readOnlyBuilder(stateDir string) *Builder {
	dir := filepath.Join(stateDir, "artifacts")
	return &Builder{cfg: Config{Now: time.Now},
		store:   &store{dir: dir, objs: filepath.Join(dir, "sha256"), manifests: filepath.Join(dir, "manifests")},
		layouts: map[string]*Layout{}}
}

// recordedView is the package's recordedView on b; known, when not nil,
// is b.recordedLayouts().
func (b *Builder) recordedView(c *hclspec.Cluster, image string, known *layoutIndex) *imageView {
	img, ok := c.Image(image)
	if !ok {
		return nil
	}
	src, err := examineImage(img)
	if err != nil {
		return nil
	}
	if known == nil {
		known = b.recordedLayouts()
	}
	r, ok := known.lookup(src.input)
	if !ok {
		return nil
	}
	lay, err := b.layout(r)
	if err != nil {
		return nil
	}
	return &imageView{name: image, lay: lay}
}
