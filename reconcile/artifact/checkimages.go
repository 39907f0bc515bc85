package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
)

// CheckImages reports what Check reports and, for every node whose image
// an earlier build on this server recorded (the image's layout is in the
// store under stateDir, kept with the current and previous applied
// states, and the image's source is unchanged), what that image cannot
// take: an overlay path that would replace one of its files or links with
// a directory (or a directory with a file), and an owner or group name its
// /etc/passwd or /etc/group lacks. Each names the overlay, the path and
// the image. Images not built here yet are checked by the build (known
// after apply). It only reads the store: it is safe beside a running
// server.
func CheckImages(stateDir string, c *hclspec.Cluster, server string) hcl.Diagnostics {
	return CheckImagesChanged(stateDir, c, server, nil, nil)
}

// CheckImagesChanged is CheckImages for the nodes whose overlays may have
// changed: built reports the nodes whose overlays were built on this
// server from the same input keys on the same image content (the running
// state's); their overlays are not assembled again, since the build that
// made them found nothing to refuse (a one-node change then checks one
// node). nil built: every node is checked. What Check reports of the
// repository as a whole (an overlay that does not load, a node without an
// image, a secret in the wrong place) is reported for every node.
//
// in, when not nil, are c's Inputs for that server (ComputeInputs): their
// template data is used again, not computed a second time.
func CheckImagesChanged(stateDir string, c *hclspec.Cluster, server string, in *Inputs, built func(node string) bool) hcl.Diagnostics {
	b := readOnlyBuilder(stateDir)
	known := b.recordedLayouts() // manifests read when the first node needs one
	views := map[string]*imageView{}
	return check(c, server, checkOpts{built: built, in: in, views: func(image string) *imageView {
		v, ok := views[image]
		if !ok {
			v = b.recordedView(c, image, known)
			views[image] = v
		}
		return v
	}})
}

// layoutIndex is the layouts the current and previous applied manifests
// record, by image input key (the current one's first), read one manifest
// at a time as lookups need them.
type layoutIndex struct {
	b      *Builder
	hexes  []string // the manifests not read yet, current first
	layout map[string]ref
}

// recordedLayouts returns the index of the layouts the applied manifests
// record; empty when the store has none.
func (b *Builder) recordedLayouts() *layoutIndex {
	x := &layoutIndex{b: b, layout: map[string]ref{}}
	if a, err := b.readApplied(); err == nil {
		for _, h := range []string{a.Current, a.Previous} {
			if h != "" {
				x.hexes = append(x.hexes, h)
			}
		}
	}
	return x
}

// lookup returns the layout recorded for an image input key.
func (x *layoutIndex) lookup(input string) (ref, bool) {
	for {
		if r, ok := x.layout[input]; ok {
			return r, true
		}
		if len(x.hexes) == 0 {
			return ref{}, false
		}
		h := x.hexes[0]
		x.hexes = x.hexes[1:]
		images, err := x.b.readManifestImages(h)
		if err != nil {
			continue
		}
		for _, rec := range images {
			if _, ok := x.layout[rec.Input]; !ok && rec.Layout.Hex != "" {
				x.layout[rec.Input] = rec.Layout
			}
		}
	}
}

// readManifestImages is readManifest's Images alone: it decodes no node
// record and holds no more of the file than a read buffer (the rest is
// only hashed, to check the manifest against its name).
func (b *Builder) readManifestImages(hexSum string) (map[string]imageRecord, error) {
	f, err := os.Open(b.manifestPath(hexSum))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	r := io.TeeReader(f, h)
	images, derr := decodeManifestImages(r)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", hexSum, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != hexSum {
		return nil, fmt.Errorf("manifest %s is corrupt", hexSum)
	}
	if derr != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", hexSum, derr)
	}
	return images, nil
}

// decodeManifestImages decodes a manifest's "images" and stops there: a
// manifest (Manifest.encode) has them before its nodes, whose records it
// then neither decodes nor scans.
func decodeManifestImages(r io.Reader) (map[string]imageRecord, error) {
	d := json.NewDecoder(r)
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		if t == "images" {
			var images map[string]imageRecord
			err := d.Decode(&images)
			return images, err
		}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// ErrorSubject returns where in c's HCL a build error is (a file block,
// an owner attribute, else the block of the overlay it is in), nil when
// it is not known there.
func ErrorSubject(c *hclspec.Cluster, err error) *hcl.Range {
	var le *locError
	if !errors.As(err, &le) {
		return nil
	}
	if le.subject != nil {
		r := *le.subject
		return &r
	}
	if le.atFile && le.file != "" {
		line := max(le.line, 1)
		return &hcl.Range{Filename: c.FileName(le.file), Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 2}}
	}
	if o, ok := c.Overlay(le.overlay); ok {
		return o.Range.Ptr()
	}
	return nil
}
