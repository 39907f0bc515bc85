package artifact

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/gitboot/gitboot/hclspec"
)

// Inputs are the input keys of a cluster's artifacts, computed without
// building or storing anything: what the reconciler compares to decide
// whether a commit changes what a node gets (plan).
type Inputs struct {
	// Nodes holds each served node's overlay input keys.
	Nodes map[string]NodeInputs
	// Overlays holds, per overlay used by a served node, a digest of each
	// of its files (path in the node's root -> hex), so a plan can name
	// the files that changed. The built-in init overlay is "gitboot-init".
	Overlays map[string]map[string]string
	// Images holds each used image's input key; Err is set instead when
	// the source cannot be examined here (a plan in CI without the image).
	Images map[string]ImageInput

	// ds, c and srv are the template data the keys were computed with and
	// what it was computed from, for CheckImagesChanged and BuildWith to
	// use again.
	ds  *dataSet
	c   *hclspec.Cluster
	srv *hclspec.Server
}

// dataFor returns the template data of cluster c for server srv: in's,
// when in was computed for that very cluster and server block (the data
// is a function of the two, and a Cluster does not change), else made
// now. in may be nil.
func (in *Inputs) dataFor(c *hclspec.Cluster, srv *hclspec.Server) *dataSet {
	if in != nil && in.ds != nil && in.c == c && in.srv == srv {
		return in.ds
	}
	return newDataSet(c, srv)
}

// NodeInputs are one node's overlay input keys (the keys a build stores
// the node's system and runtime overlay artifacts under).
type NodeInputs struct {
	System  string
	Runtime string
}

// ImageInput is an image source's identity: its input key and kind.
type ImageInput struct {
	Input string
	Kind  string
	// Digest is the digest a registry source's reference resolved to
	// (a moved tag shows in a plan); empty for the other kinds.
	Digest string
	Err    error
}

// ComputeInputs computes the input keys of every node that server srv
// serves (all nodes when srv is nil or lists no networks). A repository
// problem (an overlay that cannot be read, a template that does not parse)
// is a *RepoError. Image sources are examined only when images is true.
func ComputeInputs(c *hclspec.Cluster, srv *hclspec.Server, images bool) (*Inputs, error) {
	nodes := servedNodes(c, srv)
	in := &Inputs{
		Nodes:    make(map[string]NodeInputs, len(nodes)),
		Overlays: map[string]map[string]string{},
		Images:   map[string]ImageInput{},
		c:        c,
		srv:      srv,
	}
	ds := newDataSet(c, srv)
	in.ds = ds
	err := nodeInputs(c, ds, nodes, nil, func(n *hclspec.Node, rec nodeRecord, sys, rt []*overlay) {
		in.Nodes[n.Name] = NodeInputs{System: rec.SystemInput, Runtime: rec.RuntimeInput}
		for _, ov := range append(sys, rt...) {
			if _, ok := in.Overlays[ov.name]; !ok {
				in.Overlays[ov.name] = overlayFileDigests(ov)
			}
		}
		if n.Image != "" {
			in.Images[n.Image] = ImageInput{}
		}
		if _, ok := in.Overlays[accountsOrigin]; !ok && ds.accounts[n.Name] != nil {
			in.Overlays[accountsOrigin] = accountDigests(c)
		}
	})
	if err != nil {
		return nil, err
	}
	in.examineImages(c, images)
	return in, nil
}

// ReexamineImages returns in with the sources of its images examined
// again (what ComputeInputs with images true gives for the same cluster
// c now: the node keys depend on the commit alone, an image's content may
// have changed since). in is not changed; the copy shares its node keys.
func (in *Inputs) ReexamineImages(c *hclspec.Cluster) *Inputs {
	cp := *in
	cp.Images = make(map[string]ImageInput, len(in.Images))
	for name := range in.Images {
		cp.Images[name] = ImageInput{}
	}
	cp.examineImages(c, true)
	return &cp
}

// examineImages sets the input key of each image in.Images names (when
// images is false, none: the sources are not read).
func (in *Inputs) examineImages(c *hclspec.Cluster, images bool) {
	names := make([]string, 0, len(in.Images))
	for name := range in.Images {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !images {
			continue
		}
		img, ok := c.Image(name)
		if !ok {
			in.Images[name] = ImageInput{Err: &RepoError{fmt.Errorf("image %s is not declared", name)}}
			continue
		}
		src, err := examineImage(img)
		if err != nil {
			in.Images[name] = ImageInput{Err: err}
			continue
		}
		ii := ImageInput{Input: src.input, Kind: src.kind}
		if src.kind == "registry" {
			ii.Digest = src.oci
		}
		in.Images[name] = ii
	}
}

// overlayFileDigests hashes each file of an overlay: its mode, symlink
// target and content (a template's text, not its output). A file that
// file blocks match has its declared attributes after the digest
// ("3f2a... mode 0400 owner munge"), so a plan shows what changed; the
// others' values are the digest alone, as they always were.
func overlayFileDigests(ov *overlay) map[string]string {
	out := make(map[string]string, len(ov.files))
	var hdr [4]byte
	for i := range ov.files {
		f := &ov.files[i]
		h := sha256.New()
		binary.LittleEndian.PutUint32(hdr[:], f.mode)
		h.Write(hdr[:])
		h.Write([]byte(f.link + "\x00"))
		h.Write(f.data)
		h.Write(f.secretSum)
		name := f.name
		if f.tmpl != nil {
			name += ".tmpl"
		}
		v := hex.EncodeToString(h.Sum(nil))[:16]
		if f.secret {
			v = secretDigest(f.data)
		}
		if a := f.attr; a != nil {
			if a.modeSet {
				v += fmt.Sprintf(" mode %04o", a.mode)
			}
			if a.owner != "" {
				v += " owner " + a.owner
			}
			if a.group != "" {
				v += " group " + a.group
			}
		}
		out[name] = v
	}
	return out
}
