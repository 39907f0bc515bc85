package artifact

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// storeFiles lists the store's artifact files.
func storeFiles(t testing.TB, state string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, d := range []string{"sha256", "manifests"} {
		ents, err := os.ReadDir(filepath.Join(state, "artifacts", d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			out[d+"/"+e.Name()] = true
		}
	}
	return out
}

// checkStoreIntegrity verifies that every file under a final name holds
// the content its name says: no partly written file is ever visible.
func checkStoreIntegrity(t testing.TB, state string) {
	t.Helper()
	for name := range storeFiles(t, state) {
		base := filepath.Base(name)
		if strings.HasPrefix(base, tmpPrefix) {
			continue
		}
		hexName := strings.SplitN(base, ".", 2)[0]
		if got := fileSHA(t, filepath.Join(state, "artifacts", name)); got != "sha256:"+hexName {
			t.Errorf("%s holds content %s", name, got)
		}
	}
}

func TestCommitAndGC(t *testing.T) {
	state := t.TempDir()
	b := newBuilder(t, state)
	tc := overlayCluster(t, []string{"nodedep"}, nil, 3)
	var results []*Result
	for i := 0; i < 3; i++ {
		tc.nodes[0].Name = fmt.Sprintf("gen%d", i) // changes n's system overlay
		r := mustBuild(t, b, tc.build())
		if err := b.Commit(r); err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	removed, freed, err := b.GC()
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 || freed == 0 { // gen0's system overlay and the first manifest
		t.Errorf("gc removed %d files (%d bytes), want 2", removed, freed)
	}
	if _, err := os.Stat(results[0].Nodes["gen0"].System.Path); err == nil {
		t.Error("gc kept an artifact only the oldest state used")
	}
	for _, r := range results[1:] {
		for _, a := range r.Nodes {
			for _, x := range []string{a.Kernel.Path, a.Image.Path, a.System.Path, a.Runtime.Path} {
				if _, err := os.Stat(x); err != nil {
					t.Errorf("gc removed an artifact of the current or previous state: %v", err)
				}
			}
		}
	}
	// A restarted builder sees the current state and reuses its artifacts.
	b2 := newBuilder(t, state)
	cur, err := b2.Current()
	if err != nil || cur.Manifest != results[2].Manifest || cur.Nodes["gen2"].System != results[2].Nodes["gen2"].System || cur.Nodes["gen2"].Kernel != results[2].Nodes["gen2"].Kernel {
		t.Fatalf("current after restart: %v", err)
	}
	r := mustBuild(t, b2, tc.build())
	if r.Built != 0 || r.Images["img"].Rebuilt {
		t.Errorf("after restart: built %d, image rebuilt %v", r.Built, r.Images["img"].Rebuilt)
	}
	checkStoreIntegrity(t, state)

	// A damaged manifest does not stop a restart; Current reports it and
	// the next build rebuilds.
	cur2, _ := b2.Current()
	if err := os.WriteFile(cur2.ManifestPath, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	b3 := newBuilder(t, state)
	if _, err := b3.Current(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Current with a damaged manifest: %v", err)
	}
	mustBuild(t, b3, tc.build())
}

func TestLeftoverTempsCleaned(t *testing.T) {
	state := t.TempDir()
	newBuilder(t, state)
	for _, p := range []string{"artifacts/sha256/.tmp-123", "artifacts/manifests/.tmp-9", "artifacts/.tmp-applied"} {
		write(t, filepath.Join(state, p), "partial", 0o644)
	}
	newBuilder(t, state)
	for name := range storeFiles(t, state) {
		if strings.Contains(name, tmpPrefix) {
			t.Errorf("leftover %s not removed", name)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "artifacts/.tmp-applied")); err == nil {
		t.Error("leftover temp in artifacts/ not removed")
	}
}

// TestKillMidBuild kills a build process with SIGKILL while it writes an
// image, then checks, as a restarted server would, that the previous
// manifest and artifacts are intact and no partial file has a final name.
func TestKillMidBuild(t *testing.T) {
	if os.Getenv("GITBOOT_BUILD_CHILD") != "" {
		t.Skip("child process")
	}
	state := t.TempDir()
	src := t.TempDir()
	write(t, filepath.Join(src, "boot/vmlinuz-1"), "kernel one", 0o644)
	b := newBuilder(t, state)
	tc := &testCluster{fs: repoFS(), images: []*hclspec.Image{{Name: "img", Source: src}},
		overlays: []*hclspec.Overlay{{Name: "generic", Source: "overlays/generic"}}, nodes: mkNodes(3, "img", []string{"generic"}, nil)}
	prev := mustBuild(t, b, tc.build())
	if err := b.Commit(prev); err != nil {
		t.Fatal(err)
	}

	// Version 2: a bigger image the child will be killed in the middle of.
	src2 := t.TempDir()
	write(t, filepath.Join(src2, "boot/vmlinuz-2"), "kernel two", 0o644)
	rnd := make([]byte, 8<<20)
	for i := 0; i < 4; i++ {
		f, err := os.Open("/dev/urandom")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Read(rnd); err != nil {
			t.Fatal(err)
		}
		f.Close()
		write(t, filepath.Join(src2, fmt.Sprintf("data/%d", i)), string(rnd), 0o644)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "GITBOOT_BUILD_CHILD="+state, "GITBOOT_BUILD_CHILD_SRC="+src2)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	mid := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "CHILD-MID-BUILD") {
			mid = true
			break
		}
	}
	if !mid {
		t.Fatal("child never reached the middle of the image build")
	}
	// The child is blocked inside the image write with a partial temp.
	var partial bool
	for name := range storeFiles(t, state) {
		if strings.Contains(name, tmpPrefix) {
			partial = true
		}
	}
	if !partial {
		t.Error("no temp file while the child was mid-build")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}

	checkStoreIntegrity(t, state)
	b2 := newBuilder(t, state) // the restart
	for name := range storeFiles(t, state) {
		if strings.Contains(name, tmpPrefix) {
			t.Errorf("restart left temp %s", name)
		}
	}
	cur, err := b2.Current()
	if err != nil || cur == nil || cur.Manifest != prev.Manifest {
		t.Fatalf("previous state lost: %v", err)
	}
	for _, a := range cur.Nodes {
		for _, x := range []struct{ p, d string }{{a.Kernel.Path, a.Kernel.Digest}, {a.Image.Path, a.Image.Digest}, {a.System.Path, a.System.Digest}, {a.Runtime.Path, a.Runtime.Digest}} {
			if fileSHA(t, x.p) != x.d {
				t.Errorf("%s damaged", x.p)
			}
		}
	}
	checkArchive(t, cur.Nodes["n00000"].Image.Path)
}

// blockingProgress announces the middle of an image build on stdout and
// then blocks forever, so the parent kills the build at a known point.
type blockingProgress struct{}

func (blockingProgress) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "image img: 10%") {
		fmt.Println("CHILD-MID-BUILD")
		os.Stdout.Sync()
		time.Sleep(time.Hour)
	}
	return len(p), nil
}

// TestKillChild is the child of TestKillMidBuild.
func TestKillChild(t *testing.T) {
	state := os.Getenv("GITBOOT_BUILD_CHILD")
	if state == "" {
		t.Skip("run by TestKillMidBuild")
	}
	b, err := New(Config{StateDir: state, Progress: blockingProgress{}})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{fs: repoFS(), images: []*hclspec.Image{{Name: "img", Source: os.Getenv("GITBOOT_BUILD_CHILD_SRC")}},
		overlays: []*hclspec.Overlay{{Name: "generic", Source: "overlays/generic"}}, nodes: mkNodes(3, "img", []string{"generic"}, nil)}
	r, err := b.Build(context.Background(), tc.build(), "")
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Commit(r)
}

// The hand-written manifest encoder must match encoding/json exactly.
func TestManifestEncoding(t *testing.T) {
	m := &Manifest{Version: 1, Cluster: "abc", Server: "head",
		Images: map[string]imageRecord{"i": {Input: "x", Image: ref{"ff", 9}}},
		Nodes:  map[string]nodeRecord{"b\"<é\n": {Image: "i", System: ref{"aa", 3}, SystemInput: "k1"}, "a": {Image: "i", Runtime: ref{"bb", 1 << 40}}}}
	got, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(m)
	if !bytes.Equal(got, want) {
		t.Fatalf("encode:\n%s\nencoding/json:\n%s", got, want)
	}
}
