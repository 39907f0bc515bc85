package artifact

import (
	"bufio"
	"context"
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
	src2 := bigImageSource(t)
	killChildMidBuild(t, state, src2)
	checkRestartAfterKill(t, state, prev)
}

// bigImageSource writes an image source with 32 MiB of random data, big
// enough for a build to be stopped in the middle of its image.
func bigImageSource(t *testing.T) string {
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
	return src2
}

// killChildMidBuild runs TestKillChild building from src2 into state,
// waits until it blocks in the middle of the image write with a partial
// temp file, and kills it with SIGKILL.
func killChildMidBuild(t *testing.T, state, src2 string) {
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
}

// checkRestartAfterKill checks state as a restarted server would: the
// store intact, no temp left after the restart, and the previous manifest
// prev current with every artifact undamaged.
func checkRestartAfterKill(t *testing.T, state string, prev *Result) {
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
