package artifact

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// GC and CheckImages read a manifest without decoding its node records:
// the images decoded alone are the whole decode's, and the digests read
// from the text are every artifact the manifest names (GC keeps them all).
func TestManifestPartialReads(t *testing.T) {
	state := t.TempDir()
	b := newBuilderAt(t, state, newClock())
	tc := overlayCluster(t, []string{"nodedep"}, nil, 3)
	r := mustBuild(t, b, tc.build())
	h := strings.TrimPrefix(r.Manifest, "sha256:")
	b.forgetManifests()
	m, err := b.readManifest(h)
	if err != nil {
		t.Fatal(err)
	}
	images, err := b.readManifestImages(h)
	if err != nil || len(images) == 0 || !reflect.DeepEqual(images, m.Images) {
		t.Errorf("images alone %+v (%v), want %+v", images, err, m.Images)
	}
	hexes, images, err := b.manifestRefs(h)
	if err != nil || !reflect.DeepEqual(images, m.Images) {
		t.Fatalf("manifestRefs: %v", err)
	}
	var want []string
	for _, rec := range m.Images {
		want = append(want, rec.Image.Hex, rec.Kernel.Hex, rec.Layout.Hex)
	}
	for _, n := range m.Nodes {
		want = append(want, n.System.Hex, n.Runtime.Hex)
	}
	for _, x := range want {
		if !hexes[x] {
			t.Errorf("manifestRefs misses %s", x)
		}
	}
	if len(want) < 5 {
		t.Fatalf("the manifest names %d artifacts", len(want))
	}

	// A manifest whose text is not its name's (a node record changed) is
	// refused, though its images still decode.
	data, err := os.ReadFile(r.ManifestPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(data, []byte(`"system_input":"`), []byte(`"system_input":"0`), 1)
	if err := os.WriteFile(r.ManifestPath, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.readManifestImages(h); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("images of a damaged manifest: %v, want corrupt", err)
	}
	if _, _, err := b.manifestRefs(h); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("digests of a damaged manifest: %v, want corrupt", err)
	}

	// Another order of fields, and spaces: still found.
	other := []byte(`{"nodes": {"a": {"system": {"sha256" : "` + strings.Repeat("a", 64) + `", "size": 1}}},` +
		` "images": {"i": {"input": "x", "kind": "dir"}}}`)
	imgs, err := decodeManifestImages(bytes.NewReader(other))
	if err != nil || imgs["i"].Input != "x" {
		t.Errorf("images after the nodes: %+v %v", imgs, err)
	}
}

// The manifests New reads are kept for the Load that follows and then
// forgotten, so a server keeps none in memory.
func TestManifestsKeptUntilLoad(t *testing.T) {
	state := t.TempDir()
	b := newBuilderAt(t, state, newClock())
	tc := overlayCluster(t, []string{"nodedep"}, nil, 2)
	r := mustBuild(t, b, tc.build())
	if err := b.Commit(r); err != nil {
		t.Fatal(err)
	}
	b2 := newBuilder(t, state)
	if len(b2.manifests) != 1 {
		t.Errorf("New kept %d manifests, want the current one", len(b2.manifests))
	}
	got, err := b2.Load(r.Manifest)
	if err != nil || !reflect.DeepEqual(got.Nodes, r.Nodes) {
		t.Fatalf("Load: %v", err)
	}
	if b2.manifests != nil {
		t.Errorf("Load kept %d manifests", len(b2.manifests))
	}
	if _, _, err := b2.GC(); err != nil {
		t.Fatal(err)
	}
	checkStoreIntegrity(t, state)
}
