package httpboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
)

// TestScriptTwoStage: a node whose artifacts have a stage-one initramfs
// loads the kernel and it only, with gitboot.root=tmpfs and gitboot.stage2
// naming the image, extras, system and (without secure_runtime) runtime
// overlay by digest, in unpack order; every name there maps to a route.
func TestScriptTwoStage(t *testing.T) {
	snap := goldenSnapshot()
	nodes := append([]bootsvc.Node(nil), snap.Nodes...)
	st := nodes[1].Artifacts.System
	st.Name, st.Digest = "stage1.img.gz", "sha256:"+strings.Repeat("5", 64)
	nodes[1].Artifacts.Stage1 = st
	nodes[1].RootSize = "95%"
	snap = newSnap(snap, nodes)
	hx := func(a bootsvc.Artifact) string { return strings.TrimPrefix(a.Digest, "sha256:") }
	a := nodes[1].Artifacts
	base := "http://10.99.0.1:9873"
	got, node := AppendScript(nil, snap, "52:54:00:00:00:02")
	s := string(got)
	if node == nil || node.Name != "c002" {
		t.Fatalf("node %v", node)
	}
	stage2 := "gitboot.stage2=image:" + hx(a.Image) + ",extra0:" + hx(a.Extra[0]) + ",extra1:" + hx(a.Extra[1]) + ",system:" + hx(a.System) + ",runtime:" + hx(a.Runtime)
	for _, want := range []string{
		"kernel --name kernel " + base + "/kernel/52:54:00:00:00:02/" + hx(a.Kernel) + " initrd=stage1 gitboot.node=c002",
		" gitboot.root=tmpfs gitboot.root_size=95% " + stage2 + " gitboot.ip=10.99.0.12/24 || goto kernel_failed\n",
		"initrd --name stage1 " + base + "/stage1/52:54:00:00:00:02/" + strings.Repeat("5", 64) + " || goto stage1_failed\n",
		"boot || goto boot_failed\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "--name image") || strings.Contains(s, "--name system") {
		t.Errorf("a two-stage script loads the image or overlays through iPXE:\n%s", s)
	}
	p := parsePath("/stage1/52:54:00:00:00:02/"+strings.Repeat("5", 64), "")
	if p.route != routeStage1 || p.digest == "" {
		t.Errorf("/stage1/ parses to %+v", p)
	}

	// secure_runtime: the agent fetches the runtime overlay; stage two
	// does not name it.
	got, _ = AppendScript(nil, secureSnapshot(snap), "52:54:00:00:00:02")
	if strings.Contains(string(got), ",runtime:") || !strings.Contains(string(got), " gitboot.secure=1") {
		t.Errorf("secure two-stage script:\n%s", got)
	}

	// An https_port: the agent of a two-stage node is told where it is,
	// as a one-stage node's is (without it the agent would try 9874).
	srv := snap.Server
	srv.HTTPSPort = 9443
	withPort := bootsvc.NewSnapshot(srv, append([]bootsvc.Network(nil), snap.Networks...), append([]bootsvc.Node(nil), snap.Nodes...), snap.Commit)
	for _, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:02"} {
		got, _ = AppendScript(nil, withPort, mac)
		if !strings.Contains(string(got), " gitboot.agent=https://10.99.0.1:9443 gitboot.mac="+mac+" ") {
			t.Errorf("%s's script lacks gitboot.agent:\n%s", mac, got)
		}
	}
}

// TestServeStage1: GET /stage1/{mac}/{hex} sends the stage-one initramfs
// (curl, over a real socket) and records the node at stage KERNEL.
func TestServeStage1(t *testing.T) {
	hexs := strings.Repeat("7", 64)
	e := newEnv(t, Config{}, func(_ *bootsvc.Server, nodes []bootsvc.Node) {
		p := filepath.Join(t.TempDir(), "stage1")
		if err := os.WriteFile(p, []byte("stage one bytes"), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes[0].Artifacts.Stage1 = bootsvc.Artifact{Path: p, Digest: "sha256:" + hexs, Name: "stage1.img.gz", Size: 15}
	})
	if got := string(curl(t, e.base+"/stage1/52:54:00:00:00:01/"+hexs)); got != "stage one bytes" {
		t.Fatalf("GET /stage1/: %q", got)
	}
	rec, ok := e.store.Node("c001")
	if !ok || rec.Stage != "KERNEL" || rec.Sent != "stage1.img.gz" {
		t.Errorf("recorded %+v", rec)
	}
	if code := curlCode(t, e.base+"/stage1/52:54:00:00:00:02/"+hexs); code != "404" {
		t.Errorf("a node without a stage one: %s", code)
	}
}
