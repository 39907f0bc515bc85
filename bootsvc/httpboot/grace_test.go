package httpboot

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// fakeClock is an injectable Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// get fetches url and returns the status code and body.
func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// scriptURLs returns the URLs a script loads, by initrd name ("kernel",
// "image", "extra0", "system", "runtime").
func scriptURLs(script []byte) map[string]string {
	m := map[string]string{}
	for _, u := range regexp.MustCompile(`(?m)^(?:kernel|initrd) --name (\w+) (\S+)`).FindAllSubmatch(script, -1) {
		m[string(u[1])] = string(u[2])
	}
	return m
}

// TestDigestURLsAcrossUpdate: a node that got its script before an Update
// still gets the files that script names, with the old bytes, for the
// grace period; the new script's URLs serve the new bytes; after the grace
// the old URLs are 404 with a reason and NOT_FOUND.
func TestDigestURLsAcrossUpdate(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{Now: clk.Now, Grace: 10 * time.Minute}, nil)
	const mac = "52:54:00:00:00:01"
	oldSnap := e.h.Snapshot()
	oldScript := curl(t, e.base+"/ipxe/"+mac)
	oldURLs := scriptURLs(oldScript)
	oldNode, _ := oldSnap.NodeByMAC(mac)
	oldKernel, _ := os.ReadFile(oldNode.Artifacts.Kernel.Path)
	for _, name := range []string{"kernel", "image", "system", "runtime"} {
		if !strings.HasSuffix(oldURLs[name], "/"+strings.TrimPrefix(artifactByName(oldNode, name).Digest, "sha256:")) {
			t.Fatalf("%s URL %q does not end in its digest", name, oldURLs[name])
		}
	}

	// A new commit: new kernel and image for c001; c002 removed.
	newKernel := filepath.Join(e.dir, "vmlinuz-2")
	os.WriteFile(newKernel, bytes.Repeat([]byte("NEWKERNEL"), 1000), 0o644)
	nodes := []bootsvc.Node{oldSnap.Nodes[0]}
	nodes[0].Artifacts.Kernel = fileArtifact(t, newKernel, "vmlinuz")
	nodes[0].Artifacts.Image = makeCPIO(t, e.dir, "image-2.img.gz", map[string]string{"sbin/init": "#!/bin/sh\n# v2\n"})
	e.h.Update(bootsvc.NewSnapshot(oldSnap.Server, oldSnap.Networks, nodes, "def456"))
	newURLs := scriptURLs(curl(t, e.base+"/ipxe/"+mac))
	if newURLs["kernel"] == oldURLs["kernel"] || newURLs["image"] == oldURLs["image"] || newURLs["system"] != oldURLs["system"] {
		t.Fatalf("URLs after the update:\nold %v\nnew %v", oldURLs, newURLs)
	}

	clk.Advance(9 * time.Minute)
	checkOldURLsServed(t, e, oldURLs, oldNode)
	// The new script's and the plain URLs: the new bytes.
	for _, url := range []string{newURLs["kernel"], e.base + "/kernel/" + mac} {
		code, body := get(t, url)
		if code != 200 || !bytes.Equal(body, bytes.Repeat([]byte("NEWKERNEL"), 1000)) {
			t.Fatalf("%s: %d, %d bytes, want the new kernel", url, code, len(body))
		}
	}
	// c002 is gone from the new snapshot, but its old script still works.
	c002, _ := oldSnap.NodeByName("c002")
	c002URL := e.base + "/kernel/52:54:00:00:00:02/" + strings.TrimPrefix(c002.Artifacts.Kernel.Digest, "sha256:")
	if code, body := get(t, c002URL); code != 200 || !bytes.Equal(body, oldKernel) {
		t.Fatalf("removed node within the grace: %d", code)
	}
	if code, _ := get(t, e.base+"/kernel/52:54:00:00:00:02"); code != 404 {
		t.Fatalf("removed node's plain URL: %d, want 404", code)
	}

	clk.Advance(time.Minute)
	// Past the grace: the old kernel and image are 404 with a reason.
	code, body := get(t, oldURLs["kernel"])
	want := "artifact " + oldNode.Artifacts.Kernel.Digest + " of node c001 is no longer served; reboot the node\n"
	if code != 404 || string(body) != want {
		t.Fatalf("old kernel after the grace: %d %q, want 404 %q", code, body, want)
	}
	r, _ := e.store.Node("c001")
	if r.Error == nil || r.Error.Stage != status.StageNotFound || r.Error.Sent != "vmlinuz" {
		t.Fatalf("not recorded as NOT_FOUND vmlinuz: %+v", r.Error)
	}
	if code, _ := get(t, oldURLs["image"]); code != 404 {
		t.Fatalf("old image after the grace: %d", code)
	}
	if code, _ := get(t, c002URL); code != 404 {
		t.Fatalf("removed node after the grace: %d", code)
	}
	// What the current snapshot still has is served by the old URL too.
	if code, _ := get(t, oldURLs["system"]); code != 200 {
		t.Fatalf("unchanged system overlay by its digest: %d", code)
	}
	if code, _ := get(t, newURLs["kernel"]); code != 200 {
		t.Fatalf("new kernel: %d", code)
	}
	if e.h.retired.Load() != nil {
		t.Error("expired snapshot not pruned by the lookup")
	}
	if !strings.Contains(e.log.String(), "digest not served") {
		t.Error("no log line for the digest 404")
	}
}

// checkOldURLsServed: within the grace period, the URLs of the script c001
// got before the update (oldURLs) serve oldNode's bytes, recorded like the
// plain URLs.
func checkOldURLsServed(t *testing.T, e *testEnv, oldURLs map[string]string, oldNode *bootsvc.Node) {
	for _, name := range []string{"kernel", "image", "system", "runtime"} {
		code, body := get(t, oldURLs[name])
		orig, _ := os.ReadFile(artifactByName(oldNode, name).Path)
		if name == "runtime" && code == 200 {
			body = unwrapInitrd(t, body) // /runtime-initrd/
		}
		if code != 200 || !bytes.Equal(body, orig) {
			t.Fatalf("old %s within the grace: %d, %d bytes, want 200 and the old %d", name, code, len(body), len(orig))
		}
		r, _ := e.store.Node("c001")
		if r.Stage != stageOf[name] || r.Sent != artifactByName(oldNode, name).Name || r.Error != nil {
			t.Fatalf("after the old %s: %+v", name, r)
		}
	}
}

var stageOf = map[string]status.Stage{"kernel": status.StageKernel, "image": status.StageImage,
	"system": status.StageSystemOverlay, "runtime": status.StageRuntimeOverlay}

func artifactByName(n *bootsvc.Node, name string) bootsvc.Artifact {
	switch name {
	case "kernel":
		return n.Artifacts.Kernel
	case "image":
		return n.Artifacts.Image
	case "system":
		return n.Artifacts.System
	case "runtime":
		return n.Artifacts.Runtime
	}
	return bootsvc.Artifact{}
}

// TestDigestUnknown: a well-formed digest that no snapshot has is 404 and
// NOT_FOUND (asked from the node's own address), for a known and an
// unknown MAC, and for an extra initrd.
func TestDigestUnknown(t *testing.T) {
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger()})
	zero := strings.Repeat("0", 64)
	for _, tc := range []struct{ target, node, body string }{
		{"/kernel/52:54:00:00:00:01/" + zero, "c001", "artifact sha256:" + zero + " of node c001 is no longer served; reboot the node\n"},
		{"/extra/52:54:00:00:00:02/1/" + zero, "c002", "artifact sha256:" + zero + " of node c002 is no longer served; reboot the node\n"},
		{"/extra/52:54:00:00:00:02/7/" + zero, "c002", "artifact sha256:" + zero + " of node c002 is no longer served; reboot the node\n"},
		{"/runtime/52-54-00-AA-BB-CC/" + zero, "", "artifact sha256:" + zero + " of node 52:54:00:aa:bb:cc is no longer served; reboot the node\n"},
	} {
		req := httptest.NewRequest("GET", tc.target, nil)
		req.RemoteAddr = "10.99.0.50:1234"
		if n, ok := h.Snapshot().NodeByName(tc.node); ok {
			req.RemoteAddr = n.IP.String() + ":1234"
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 404 || w.Body.String() != tc.body {
			t.Errorf("%s: %d %q, want 404 %q", tc.target, w.Code, w.Body.String(), tc.body)
		}
		if tc.node != "" {
			if r, _ := h.store.Node(tc.node); r.Error == nil || r.Error.Stage != status.StageNotFound {
				t.Errorf("%s: not recorded NOT_FOUND: %+v", tc.target, r.Error)
			}
		}
	}
}

// TestRetiredBounded: Update keeps at most MaxRetired snapshots, newest
// first, drops expired ones, never the one being served, and a negative
// Grace keeps none.
func TestRetiredBounded(t *testing.T) {
	clk := newClock()
	h := New(Config{Snapshot: goldenSnapshot(), Now: clk.Now, Logger: discardLogger()})
	var snaps []*bootsvc.Snapshot
	for i := 0; i < MaxRetired+3; i++ {
		s := goldenSnapshot()
		snaps = append(snaps, s)
		h.Update(s)
		clk.Advance(time.Second)
	}
	l := h.retired.Load()
	if len(l.snaps) != MaxRetired || l.snaps[0].snap != snaps[len(snaps)-2] {
		t.Fatalf("%d retired, newest %p, want %d and %p", len(l.snaps), l.snaps[0].snap, MaxRetired, snaps[len(snaps)-2])
	}
	h.Update(h.Snapshot()) // the same snapshot again: nothing retired
	if n := len(h.retired.Load().snaps); n != MaxRetired {
		t.Fatalf("re-publishing the served snapshot: %d retired", n)
	}
	clk.Advance(DefaultGrace)
	h.Update(goldenSnapshot())
	if l := h.retired.Load(); l == nil || len(l.snaps) != 1 {
		t.Fatalf("after the grace: %+v, want only the snapshot just replaced", l)
	}

	h = New(Config{Snapshot: goldenSnapshot(), Grace: -1})
	h.Update(goldenSnapshot())
	if h.retired.Load() != nil {
		t.Fatal("Grace < 0 kept a snapshot")
	}
}
