package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// netModules are the kernel modules, relative to lib/modules/VERSION, a
// Debian 6.1 kernel needs for QEMU's virtio NIC (all built as modules
// there), and e1000 for an emulated Intel NIC. gitboot's /init loads them
// from the image's /lib/modules (modprobe by the devices' modaliases).
var netModules = []string{
	"kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/virtio/virtio_ring.ko",
	"kernel/drivers/virtio/virtio_pci.ko",
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko",
	"kernel/net/core/failover.ko",
	"kernel/drivers/net/net_failover.ko",
	"kernel/drivers/net/virtio_net.ko",
	"kernel/drivers/net/ethernet/intel/e1000/e1000.ko",
	"modules.builtin",
	"modules.order",
}

// kernelVersion is the `uname -r` of a Debian vmlinuz-VERSION file.
func kernelVersion(kernel string) string {
	m := regexp.MustCompile(`^vmlinuz-(6\.1\.0-[0-9]+-amd64)$`).FindStringSubmatch(filepath.Base(kernel))
	if m == nil {
		return ""
	}
	return m[1]
}

// addNetModules puts the kernel's network modules into the image at
// lib/modules/VERSION, with a modules.dep from busybox depmod, so that the
// node's network comes up in Linux. The modules come from the test cache
// ($GITBOOT_TEST_CACHE/linux-6.1/lib/modules/VERSION), fetched from the
// kernel's own Debian package (apt-get download linux-image-VERSION) when
// they are not there yet.
func addNetModules(t *testing.T, image, kernel string) {
	t.Helper()
	ver := kernelVersion(kernel)
	if ver == "" {
		skipOrFail(t, "the test kernel %s is not named vmlinuz-6.1.0-N-amd64: cannot find its modules for the node's network", kernel)
	}
	src := netModulesDir(t, ver)
	dst := filepath.Join(image, "lib", "modules", ver)
	for _, m := range netModules {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, m)), 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(src, m), filepath.Join(dst, m), 0o644)
	}
	if out, err := exec.Command("/bin/busybox", "depmod", "-b", image, ver).CombinedOutput(); err != nil {
		t.Fatalf("busybox depmod -b %s %s: %v\n%s", image, ver, err, out)
	}
	if _, err := os.Stat(filepath.Join(dst, "modules.dep")); err != nil {
		t.Fatalf("busybox depmod wrote no modules.dep: %v", err)
	}
}

// netModulesDir returns the cache directory lib/modules/VERSION holding
// netModules, fetching them first when needed.
func netModulesDir(t *testing.T, ver string) string {
	t.Helper()
	cache := os.Getenv(cacheEnv)
	if cache == "" {
		cache = defaultCacheDir
	}
	dir := filepath.Join(cache, "linux-6.1", "lib", "modules", ver)
	complete := func() bool {
		for _, m := range netModules {
			if fi, err := os.Stat(filepath.Join(dir, m)); err != nil || !fi.Mode().IsRegular() {
				return false
			}
		}
		return true
	}
	if complete() {
		return dir
	}
	for _, cmd := range []string{"apt-get", "dpkg-deb", "tar"} {
		if _, err := exec.LookPath(cmd); err != nil {
			skipOrFail(t, "no network modules in %s and no %s to fetch them (apt-get download linux-image-%s; dpkg -x it into %s)",
				dir, cmd, ver, filepath.Join(cache, "linux-6.1"))
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		skipOrFail(t, "cannot make the cache %s: %v", cache, err)
	}
	// One fetch at a time, even across test processes (the kernel's lock).
	defer lockCache(t, cache)()
	if complete() {
		return dir
	}
	if err := fetchModules(cache, ver); err != nil {
		skipOrFail(t, "no network modules in %s and fetching them failed: %v", dir, err)
	}
	if !complete() {
		skipOrFail(t, "linux-image-%s lacks some of %v", ver, netModules)
	}
	t.Logf("fetched the network modules of %s into %s", ver, dir)
	return dir
}

// fetchModules downloads linux-image-VER and unpacks netModules into
// cache/linux-6.1/lib/modules/VER.
func fetchModules(cache, ver string) error {
	ctx, cancel := context.WithTimeout(context.Background(), kernelFetchLimit)
	defer cancel()
	tmp, err := os.MkdirTemp(cache, "fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755) // apt's _apt user may write there
	pkg := "linux-image-" + ver
	dl := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		if up, err2 := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err2 != nil {
			return fmt.Errorf("apt-get download %s: %v\n%s\napt-get update: %v\n%s", pkg, err, tail(string(out), 5), err2, up)
		}
		dl = exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
		dl.Dir = tmp
		if out, err := dl.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get download %s: %v\n%s", pkg, err, tail(string(out), 5))
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %v", pkg, debs)
	}
	members := make([]string, len(netModules))
	for i, m := range netModules {
		members[i] = "./lib/modules/" + ver + "/" + m
	}
	args := append([]string{"-c", `f=$1; d=$2; shift 2; dpkg-deb --fsys-tarfile "$f" | tar -x -C "$d" "$@"`, "sh", debs[0], tmp}, members...)
	unpack := exec.CommandContext(ctx, "sh", args...)
	if out, err := unpack.CombinedOutput(); err != nil {
		return fmt.Errorf("unpacking %s: %v\n%s", debs[0], err, out)
	}
	dst := filepath.Join(cache, "linux-6.1", "lib", "modules", ver)
	for _, m := range netModules {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, m)), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tmp, "lib", "modules", ver, m), filepath.Join(dst, m)); err != nil {
			return err
		}
	}
	return nil
}
