package artifact

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	return CheckImagesChanged(stateDir, c, server, nil)
}

// CheckImagesChanged is CheckImages for the nodes whose overlays may have
// changed: built reports the nodes whose overlays were built on this
// server from the same input keys on the same image content (the running
// state's); their overlays are not assembled again, since the build that
// made them found nothing to refuse (a one-node change then checks one
// node). nil built: every node is checked. What Check reports of the
// repository as a whole (an overlay that does not load, a node without an
// image, a secret in the wrong place) is reported for every node.
func CheckImagesChanged(stateDir string, c *hclspec.Cluster, server string, built func(node string) bool) hcl.Diagnostics {
	b := readOnlyBuilder(stateDir)
	var known map[string]ref // read when the first node needs it
	views := map[string]*imageView{}
	return check(c, server, built, func(image string) *imageView {
		v, ok := views[image]
		if !ok {
			if known == nil {
				known = b.recordedLayouts()
			}
			v = b.recordedView(c, image, known)
			views[image] = v
		}
		return v
	})
}

// recordedLayouts returns the layouts the current and previous applied
// manifests record, by image input key; none when the store has none.
func (b *Builder) recordedLayouts() map[string]ref {
	out := map[string]ref{}
	a, err := b.readApplied()
	if err != nil {
		return out
	}
	for _, h := range []string{a.Previous, a.Current} {
		if h == "" {
			continue
		}
		images, err := b.readManifestImages(h)
		if err != nil {
			continue
		}
		for _, rec := range images {
			if rec.Layout.Hex != "" {
				out[rec.Input] = rec.Layout
			}
		}
	}
	return out
}

// readManifestImages is readManifest's Images alone: decoding no node
// record, it costs a third of reading the whole manifest at 10,000 nodes
// (a plan reads two).
func (b *Builder) readManifestImages(hexSum string) (map[string]imageRecord, error) {
	data, err := os.ReadFile(b.manifestPath(hexSum))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != hexSum {
		return nil, fmt.Errorf("manifest %s is corrupt", hexSum)
	}
	images, err := decodeManifestImages(data)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", hexSum, err)
	}
	return images, nil
}

// decodeManifestImages decodes a manifest's "images" and stops there: a
// manifest (Manifest.encode) has them before its nodes, whose records it
// then neither decodes nor scans.
func decodeManifestImages(data []byte) (map[string]imageRecord, error) {
	d := json.NewDecoder(bytes.NewReader(data))
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
