package artifact

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

// TestFullDisk runs builds with the state directory on a 3 MiB tmpfs,
// mounted in a private mount namespace (unshare -m) so it disappears with
// the child process. The child checks that a build that fills the disk
// fails naming the image, and that the committed state survives intact.
func TestFullDisk(t *testing.T) {
	if os.Getenv("GITBOOT_FULLDISK_CHILD") != "" {
		t.Skip("child process")
	}
	requireRoot(t, "mounts a tmpfs in a private mount namespace")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) not found: %v", err)
	}
	mnt := t.TempDir()
	small, big := t.TempDir(), t.TempDir()
	write(t, filepath.Join(small, "boot/vmlinuz-1"), "kernel", 0o644)
	write(t, filepath.Join(big, "boot/vmlinuz-2"), "kernel two", 0o644)
	rnd := make([]byte, 6<<20)
	if _, err := rand.Read(rnd); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(big, "data"), string(rnd), 0o644)
	script := fmt.Sprintf("mount -t tmpfs -o size=3m gitboot-test %q && exec %q -test.run='^TestFullDiskChild$' -test.v", mnt, os.Args[0])
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "GITBOOT_FULLDISK_CHILD="+mnt, "GITBOOT_SMALL="+small, "GITBOOT_BIG="+big)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "FULLDISK-OK") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child output:\n%s", out)
	// The tmpfs lived only in the child's namespace.
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Errorf("the mount leaked into the test's namespace: %v", ents)
	}
}

func TestFullDiskChild(t *testing.T) {
	state := os.Getenv("GITBOOT_FULLDISK_CHILD")
	if state == "" {
		t.Skip("run by TestFullDisk")
	}
	b := newBuilder(t, state)
	tc := &testCluster{fs: repoFS(), images: []*hclspec.Image{{Name: "small", Source: os.Getenv("GITBOOT_SMALL")}},
		overlays: []*hclspec.Overlay{{Name: "generic", Source: "overlays/generic"}}, nodes: mkNodes(3, "small", []string{"generic"}, nil)}
	prev := mustBuild(t, b, tc.build())
	if err := b.Commit(prev); err != nil {
		t.Fatal(err)
	}
	tc.images = append(tc.images, &hclspec.Image{Name: "big", Source: os.Getenv("GITBOOT_BIG")})
	tc.nodes[1].Image = "big"
	_, err := b.Build(context.Background(), tc.build(), "")
	if err == nil || !strings.Contains(err.Error(), "image big: ") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("full disk: %v", err)
	}
	t.Logf("full disk error: %v", err)
	var re *RepoError
	if errors.As(err, &re) {
		t.Error("a full disk is not the repository's fault")
	}
	for name := range storeFiles(t, state) {
		if strings.Contains(name, tmpPrefix) {
			t.Errorf("failed build left %s", name)
		}
	}
	checkStoreIntegrity(t, state)
	b2 := newBuilder(t, state)
	cur, err := b2.Current()
	if err != nil || cur.Manifest != prev.Manifest {
		t.Fatalf("current state after full disk: %v", err)
	}
	for _, a := range cur.Nodes {
		if fileSHA(t, a.Image.Path) != a.Image.Digest || fileSHA(t, a.System.Path) != a.System.Digest {
			t.Error("previous artifacts damaged")
		}
	}
	fmt.Println("FULLDISK-OK")
}
