package httpboot

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// bootNode fetches the node's script and then every artifact it names, as
// iPXE does, and returns the script's URLs.
func bootNode(t *testing.T, e *testEnv, mac string) map[string]string {
	t.Helper()
	code, script := get(t, e.base+"/ipxe/"+mac)
	if code != 200 {
		t.Fatalf("script: %d", code)
	}
	urls := scriptURLs(script)
	for _, name := range []string{"kernel", "image", "system", "runtime"} {
		if code, _ := get(t, urls[name]); code != 200 {
			t.Fatalf("%s: %d", name, code)
		}
	}
	return urls
}

func digestsOf(n *bootsvc.Node) status.BootDigests {
	return status.BootDigests{Kernel: n.Artifacts.Kernel.Digest, Image: n.Artifacts.Image.Digest, System: n.Artifacts.System.Digest}
}

// rebootRow returns the named node's row of GET /status.
func rebootRow(t *testing.T, rep *status.Report, name string) status.NodeRecord {
	t.Helper()
	for _, r := range rep.Nodes {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("%s not in the report", name)
	return status.NodeRecord{}
}

// TestBootedAndNeedsReboot walks c001 through a boot, a commit that
// changes its system overlay, a boot across a kernel change (old script,
// retired kernel), a reboot, and a runtime-only commit, checking what the
// store records as booted and what GET /status says about reboots.
func TestBootedAndNeedsReboot(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{Now: clk.Now, Grace: 10 * time.Minute}, nil)
	const mac = "52:54:00:00:00:01"
	snapA := e.h.Snapshot()
	nodeA, _ := snapA.NodeByName("c001")

	rep := e.report(t)
	if r := rebootRow(t, rep, "c001"); r.NeedsReboot || r.Booted != "" || !r.BootedDigests.IsZero() {
		t.Fatalf("never booted: %+v", r)
	}
	bootNode(t, e, mac)
	r, _ := e.store.Node("c001")
	if r.Booted != "abc123" || r.BootedDigests != digestsOf(nodeA) || r.Stage != status.StageRuntimeOverlay {
		t.Fatalf("after a boot at abc123: %+v", r)
	}
	rep = e.report(t)
	if rep.Commit != "abc123" || rebootRow(t, rep, "c001").NeedsReboot || rebootRow(t, rep, "c002").NeedsReboot {
		t.Fatalf("report right after the boot: %+v", rep)
	}

	// B changes c001's system overlay: c001 needs a reboot; c002, never
	// booted, does not.
	nodes := append([]bootsvc.Node(nil), snapA.Nodes...)
	nodes[0].Artifacts.System = makeCPIO(t, e.dir, "system-b.img.gz", map[string]string{"init": "#!/bin/sh\n# b\nexec /sbin/init\n"})
	e.h.Update(bootsvc.NewSnapshot(snapA.Server, snapA.Networks, nodes, "bbb222"))
	rep = e.report(t)
	if rep.Commit != "bbb222" || !rebootRow(t, rep, "c001").NeedsReboot || rebootRow(t, rep, "c002").NeedsReboot || rep.Reboots() != 1 {
		t.Fatalf("after a system overlay change: %+v", rep.Nodes)
	}
	if r := rebootRow(t, rep, "c001"); r.Booted != "abc123" {
		t.Fatalf("booted changed by an apply: %+v", r)
	}

	nodes, nodeB := bootAcrossKernelChange(t, e, snapA, nodes, mac)

	// A reboot: DHCP and the script leave what it booted alone; the kernel
	// replaces it.
	e.store.Record(status.Event{Node: "c001", Stage: status.StageDHCP})
	get(t, e.base+"/ipxe/"+mac)
	if r, _ := e.store.Node("c001"); r.Booted != "bbb222" || r.BootedDigests != digestsOf(&nodeB) {
		t.Fatalf("DHCP or the script cleared what was booted: %+v", r)
	}
	if !rebootRow(t, e.report(t), "c001").NeedsReboot {
		t.Fatal("still running B until the new kernel is fetched")
	}
	urlsC := bootNode(t, e, mac)
	r, _ = e.store.Node("c001")
	if r.Booted != "ccc333" || r.BootedDigests != digestsOf(&nodes[0]) {
		t.Fatalf("after the reboot: %+v", r)
	}
	if rebootRow(t, e.report(t), "c001").NeedsReboot {
		t.Fatal("needs a reboot right after one")
	}

	checkBootedKept(t, e, snapA, nodes, mac, urlsC)
}

// bootAcrossKernelChange: c001 starts a boot with the script of commit B
// (nodes, node 0 being c001) before C, a new kernel, is applied; the old
// script's kernel comes from a retired snapshot, the image from the
// current one (same digest), and what c001 booted is B, the script's
// commit. It returns C's nodes and c001's node of B.
func bootAcrossKernelChange(t *testing.T, e *testEnv, snapA *bootsvc.Snapshot, nodes []bootsvc.Node, mac string) ([]bootsvc.Node, bootsvc.Node) {
	// A boot that started before C (a new kernel) was applied: the old
	// script's kernel comes from a retired snapshot, the image from the
	// current one (same digest). Booted is B, the script's commit.
	code, scriptB := get(t, e.base+"/ipxe/"+mac)
	if code != 200 {
		t.Fatal(code)
	}
	urlsB := scriptURLs(scriptB)
	nodeB := nodes[0]
	newKernel := filepath.Join(e.dir, "vmlinuz-c")
	os.WriteFile(newKernel, bytes.Repeat([]byte("KERNEL-C"), 1000), 0o644)
	nodes = append([]bootsvc.Node(nil), nodes...)
	nodes[0].Artifacts.Kernel = fileArtifact(t, newKernel, "vmlinuz")
	e.h.Update(bootsvc.NewSnapshot(snapA.Server, snapA.Networks, nodes, "ccc333"))
	if code, _ := get(t, urlsB["kernel"]); code != 200 {
		t.Fatal("old kernel in its grace period:", code)
	}
	r, _ := e.store.Node("c001")
	if r.Booted != "bbb222" || r.BootedDigests != (status.BootDigests{Kernel: nodeB.Artifacts.Kernel.Digest}) {
		t.Fatalf("a kernel fetch starts a new boot: %+v", r)
	}
	for _, name := range []string{"image", "system"} {
		if code, _ := get(t, urlsB[name]); code != 200 {
			t.Fatal(name, code)
		}
	}
	r, _ = e.store.Node("c001")
	if r.Booted != "bbb222" || r.BootedDigests != digestsOf(&nodeB) {
		t.Fatalf("after booting B's script: %+v", r)
	}
	if !rebootRow(t, e.report(t), "c001").NeedsReboot {
		t.Fatal("c001 runs B's kernel, C is applied: no reboot shown")
	}
	return nodes, nodeB
}

// checkBootedKept: a HEAD request and an extra initrd do not change what
// c001 booted (commit C, nodes); a runtime-only commit needs no reboot,
// and the runtime overlay (urlsC's, then the new one) does not change it.
func checkBootedKept(t *testing.T, e *testEnv, snapA *bootsvc.Snapshot, nodes []bootsvc.Node, mac string, urlsC map[string]string) {
	// A HEAD request and an extra initrd do not change what was booted.
	req, _ := http.NewRequest(http.MethodHead, e.base+"/kernel/"+mac+"/"+hexOf(snapA.Nodes[0].Artifacts.Kernel.Digest), nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD old kernel: %v %v", resp, err)
	}
	if r, _ := e.store.Node("c001"); r.Booted != "ccc333" || r.BootedDigests != digestsOf(&nodes[0]) {
		t.Fatalf("a HEAD changed what was booted: %+v", r)
	}

	// A runtime-only commit needs no reboot, and the runtime overlay does
	// not change what was booted.
	nodes = append([]bootsvc.Node(nil), nodes...)
	nodes[0].Artifacts.Runtime = makeCPIO(t, e.dir, "runtime-d.img.gz", map[string]string{"etc/motd": "d\n"})
	e.h.Update(bootsvc.NewSnapshot(snapA.Server, snapA.Networks, nodes, "ddd444"))
	if code, _ := get(t, e.base+"/runtime/"+mac); code != 200 {
		t.Fatal(code)
	}
	if code, _ := get(t, urlsC["runtime"]); code != 200 {
		t.Fatal(code)
	}
	rep := e.report(t)
	if r := rebootRow(t, rep, "c001"); r.NeedsReboot || r.Booted != "ccc333" || r.Stage != status.StageRuntimeOverlay {
		t.Fatalf("after a runtime-only commit: %+v", r)
	}
}

func hexOf(digest string) string { return digest[len("sha256:"):] }
