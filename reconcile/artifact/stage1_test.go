package artifact

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

// twoStageImage writes an image with a module tree as depmod leaves it
// (merged /usr: the modules are under usr/lib/modules, lib is a link).
func twoStageImage(t *testing.T) string {
	src := t.TempDir()
	write(t, filepath.Join(src, "boot/vmlinuz-6.1.0-13-amd64"), "kernel", 0o644)
	m := filepath.Join(src, "usr/lib/modules/6.1.0-13-amd64")
	for _, p := range []string{"kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko",
		"kernel/drivers/net/ethernet/intel/e1000/e1000.ko", "kernel/drivers/virtio/virtio_pci.ko", "kernel/sound/core/snd.ko",
		"kernel/fs/xfs/xfs.ko"} {
		write(t, filepath.Join(m, p), "module "+p, 0o644)
	}
	write(t, filepath.Join(m, "modules.dep"), `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
kernel/drivers/virtio/virtio_pci.ko:
kernel/sound/core/snd.ko:
kernel/fs/xfs/xfs.ko:
`, 0o644)
	write(t, filepath.Join(m, "modules.alias"), `alias virtio:d00000001v* virtio_net
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias fs-xfs xfs
`, 0o644)
	write(t, filepath.Join(m, "modules.builtin"), "kernel/drivers/net/mii.ko\n", 0o644)
	if err := os.Symlink("usr/lib", filepath.Join(src, "lib")); err != nil {
		t.Fatal(err)
	}
	return src
}

func stage1Files(t *testing.T, r *Result, node string) map[string]string {
	a := r.Nodes[node].Stage1
	if a.Path == "" {
		t.Fatalf("%s has no stage-one initramfs", node)
	}
	dir := unpack(t, a.Path)
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// TestStageOneInitramfs: a two-stage image gets a stage-one initramfs with
// the agent as /init, every network driver (default) or the listed ones,
// with their dependencies, and the index of those only; a one-stage image
// gets none; a new agent or module list builds a new one, an unchanged
// build reuses it; an unknown listed module fails the build naming it.
func TestStageOneInitramfs(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "gitboot-agent")
	write(t, agent, "agent v1", 0o755)
	tc := &testCluster{fs: repoFS(), images: []*hclspec.Image{{Name: "img", Source: twoStageImage(t), Boot: hclspec.BootTwoStage}},
		nodes: mkNodes(2, "img", nil, nil)}
	b, err := New(Config{StateDir: t.TempDir(), Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	r1 := mustBuild(t, b, tc.build())
	files := stage1Files(t, r1, "n00000")
	if files["init"] != "agent v1" {
		t.Errorf("/init is %q, want the agent", files["init"])
	}
	var mods []string
	for p := range files {
		if strings.HasSuffix(p, ".ko") {
			mods = append(mods, strings.TrimPrefix(p, "lib/modules/6.1.0-13-amd64/"))
		}
	}
	slices.Sort(mods)
	want := []string{"kernel/drivers/net/ethernet/intel/e1000/e1000.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
		"kernel/drivers/virtio/virtio_pci.ko", "kernel/net/core/failover.ko"}
	if !slices.Equal(mods, want) {
		t.Errorf("default modules %v, want %v", mods, want)
	}
	alias := files["lib/modules/6.1.0-13-amd64/modules.alias"]
	if !strings.Contains(alias, "virtio_net") || strings.Contains(alias, "xfs") {
		t.Errorf("modules.alias not restricted to the modules carried:\n%s", alias)
	}
	if r1.Nodes["n00000"].Stage1.Digest != r1.Nodes["n00001"].Stage1.Digest {
		t.Error("two nodes of one image got different stage-one initramfs")
	}
	if r := mustBuild(t, b, tc.build()); r.Nodes["n00000"].Stage1.Digest != r1.Nodes["n00000"].Stage1.Digest {
		t.Error("an unchanged build changed the stage-one initramfs")
	}

	// A listed set: that and its dependencies only (mii is built in).
	tc.images[0].StageOneModules = []string{"virtio-net", "mii"}
	files = stage1Files(t, mustBuild(t, b, tc.build()), "n00000")
	if _, ok := files["lib/modules/6.1.0-13-amd64/kernel/drivers/net/ethernet/intel/e1000/e1000.ko"]; ok {
		t.Error("a listed set still carries e1000")
	}
	if _, ok := files["lib/modules/6.1.0-13-amd64/kernel/net/core/failover.ko"]; !ok {
		t.Error("virtio_net's dependency failover is missing")
	}

	// A new agent: a new stage one.
	write(t, agent, "agent v2", 0o755)
	if files := stage1Files(t, mustBuild(t, b, tc.build()), "n00000"); files["init"] != "agent v2" {
		t.Errorf("a new agent kept the old stage one (/init %q)", files["init"])
	}

	tc.images[0].StageOneModules = []string{"nosuchdriver"}
	if _, err := b.Build(context.Background(), tc.build(), ""); err == nil || !strings.Contains(err.Error(), "nosuchdriver") {
		t.Errorf("unknown module: err %v", err)
	}

	// One stage: none.
	tc.images[0].StageOneModules = nil
	tc.images[0].Boot = hclspec.BootOneStage
	if r := mustBuild(t, b, tc.build()); r.Nodes["n00000"].Stage1.Path != "" {
		t.Error("a one-stage image has a stage-one initramfs")
	}
	// auto above the threshold: two stages.
	tc.images[0].Boot, tc.images[0].TwoStageAbove = "", 10
	if r := mustBuild(t, b, tc.build()); r.Nodes["n00000"].Stage1.Path == "" {
		t.Error("an image above two_stage_above boots in one stage")
	}
}
