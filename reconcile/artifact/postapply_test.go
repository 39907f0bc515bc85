package artifact

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

func setPostApply(tc *testCluster, overlay, cmd string) {
	for _, o := range tc.overlays {
		if o.Name == overlay {
			o.PostApply = cmd
		}
	}
}

// runtimeInputs returns every node's system and runtime input key.
func runtimeInputs(t *testing.T, c *hclspec.Cluster) map[string]nodeRecord {
	t.Helper()
	ds := newDataSet(c, c.Servers[0])
	out := map[string]nodeRecord{}
	if err := nodeInputs(c, ds, c.Nodes, nil, func(n *hclspec.Node, rec nodeRecord, _, _ []*overlay) { out[n.Name] = rec }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPostApplyFile: a runtime overlay with a post_apply command carries
// overlays.json listing every runtime overlay's command and the files it
// installs (a file belongs to the last overlay writing it); system
// overlays and runtime overlays without a command do not.
func TestPostApplyFile(t *testing.T) {
	tc := overlayCluster(t, []string{"override"}, []string{"generic", "override", "secrets"}, 2)
	setPostApply(tc, "override", "systemctl reload motd")
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	a := r.Nodes["n00000"]
	rt := unpack(t, a.Runtime.Path)
	p := filepath.Join(rt, PostApplyFile)
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode() != 0o644 {
		t.Errorf("%s: mode %v", PostApplyFile, info.Mode())
	}
	var got []PostApplyEntry
	if err := json.Unmarshal([]byte(readFile(t, p)), &got); err != nil {
		t.Fatal(err)
	}
	want := []PostApplyEntry{
		{Overlay: "generic", Files: []string{"etc/dir-from-repo/.keep", "etc/localtime", "etc/network.conf", "usr/local/bin/hello"}},
		{Overlay: "override", PostApply: "systemctl reload motd", Files: []string{"etc/motd"}},
		{Overlay: "secrets", Files: []string{"etc/munge/munge.key"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("overlays.json:\n%+v\nwant\n%+v", got, want)
	}
	if _, err := os.Lstat(filepath.Join(unpack(t, a.System.Path), PostApplyFile)); err == nil {
		t.Error("the system overlay carries overlays.json")
	}

	// Without any post_apply: no file, and the input key is the one of
	// an overlay that never had the attribute.
	setPostApply(tc, "override", "")
	plain := tc.build()
	r2 := mustBuild(t, newBuilder(t, t.TempDir()), plain)
	if _, err := os.Lstat(filepath.Join(unpack(t, r2.Nodes["n00000"].Runtime.Path), PostApplyFile)); err == nil {
		t.Error("overlays.json without any post_apply")
	}
	keys := runtimeInputs(t, plain)
	setPostApply(tc, "override", "systemctl reload motd")
	withCmd := runtimeInputs(t, tc.build())
	setPostApply(tc, "override", "systemctl restart motd")
	otherCmd := runtimeInputs(t, tc.build())
	for _, n := range []string{"n00000", "n00001"} {
		if keys[n].RuntimeInput == withCmd[n].RuntimeInput || withCmd[n].RuntimeInput == otherCmd[n].RuntimeInput {
			t.Errorf("%s: a post_apply change leaves the runtime input key alone", n)
		}
		if keys[n].SystemInput != withCmd[n].SystemInput || withCmd[n].SystemInput != otherCmd[n].SystemInput {
			t.Errorf("%s: post_apply changed the system input key", n)
		}
	}
}

// TestOverlayInputV1 pins a runtime input key without post_apply: keys
// (and so artifacts) of clusters not using it stay as they were.
func TestOverlayInputV1(t *testing.T) {
	var h, dk keyHasher
	ds := &dataSet{}
	ov := &overlay{name: "x"}
	got := ds.overlayInput(&h, &dk, "runtime", []*overlay{ov}, &hclspec.Node{Name: "n"})
	h.str("overlay-input/1")
	h.str("runtime")
	h.str("x")
	h.raw(ov.hash[:])
	k := ds.depKeyWith(&dk, ov.deps, ov.res, &hclspec.Node{Name: "n"})
	h.raw(k[:])
	sum := h.sum()
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("key %s, want %s", got, want)
	}
}
