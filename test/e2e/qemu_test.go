package e2e

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// Where the test finds a Linux kernel for its node:
//   - $GITBOOT_TEST_KERNEL, a vmlinuz file; or else
//   - the newest boot/vmlinuz-6.1.* under $GITBOOT_TEST_CACHE/linux-6.1
//     (default /var/cache/gitboot-test/linux-6.1), the layout `dpkg -x` of
//     a Debian linux-image-6.1.0-N-amd64 package makes; or else
//   - the test fetches that package with `apt-get download` into the cache.
const (
	kernelEnv        = "GITBOOT_TEST_KERNEL"
	cacheEnv         = "GITBOOT_TEST_CACHE"
	defaultCacheDir  = "/var/cache/gitboot-test"
	kernelPackageRE  = `^linux-image-6\.1\.0-[0-9]+-amd64$`
	bootMarker       = "GITBOOT-E2E-BOOTED"
	bootDeadline     = 180 * time.Second
	kernelFetchLimit = 5 * time.Minute
)

// skipOrFail skips the test, or fails it under CI=true: CI has everything
// this test needs and must not pass by skipping it.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// TestQEMUBootBIOS boots node n1 of examples/lab for real: a BIOS QEMU VM
// (TCG) on a tap in a bridge namespace, `gitboot serve` in another
// namespace on the same bridge. QEMU's NIC ROM is iPXE, so its first DHCP
// request already says user class iPXE and gets the script URL; the script
// loads the kernel and the image, system and runtime initrds over HTTP;
// gitboot's /init loads the NIC's driver, brings the network up with n1's
// address, sets the hostname and execs the image's /sbin/init
// (testdata/qemu-init.sh), which prints a marker line on ttyS0 naming what
// it found from each layer and reaches gitboot over HTTP. Then `gitboot
// status --json` must show n1 at RUNTIME_OVERLAY.
func TestQEMUBootBIOS(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	l := startQEMULab(t, testKernel(t))
	vm, _ := l.boot(t, "n1", biosArgs(n1MAC)...)
	l.checkServed(t, "n1", "10.99.0.11")
	l.waitPowerOff(t, vm)
}

func findNode(t *testing.T, statusJSON []byte, name string) status.NodeRecord {
	t.Helper()
	var rep status.Report
	if err := json.Unmarshal(statusJSON, &rep); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, statusJSON)
	}
	for _, n := range rep.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("node %s missing from status: %s", name, statusJSON)
	return status.NodeRecord{}
}

// bootableImage makes the image tree: static busybox with a symlink per
// applet, testdata/qemu-init.sh as /sbin/init, the kernel as
// boot/vmlinuz-VERSION (gitboot serves the image's newest boot/vmlinuz-*)
// and its network modules in lib/modules/VERSION.
func bootableImage(t *testing.T, kernel string) string {
	t.Helper()
	const bb = "/bin/busybox"
	if !isStatic(bb) {
		skipOrFail(t, "the test image needs a static %s: install busybox-static", bb)
	}
	dir := filepath.Join(t.TempDir(), "image")
	for _, d := range []string{"bin", "sbin", "boot", "etc", "lib", "proc", "sys", "dev", "run", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, bb, filepath.Join(dir, "bin", "busybox"), 0o755)
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || applet == "init" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join("testdata", "qemu-init.sh"), filepath.Join(dir, "sbin", "init"), 0o755)
	name := filepath.Base(kernel)
	if !strings.HasPrefix(name, "vmlinuz-") {
		name = "vmlinuz-test"
	}
	copyFile(t, kernel, filepath.Join(dir, "boot", name), 0o644)
	addNetModules(t, dir, kernel)
	if err := os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("NAME=\"gitboot e2e\"\nID=gitboot-e2e\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testKernel returns the path of a Linux kernel for the node, fetching a
// Debian 6.1 kernel into the cache when there is none.
func testKernel(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(kernelEnv); p != "" {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("$%s=%s is not a kernel file: %v", kernelEnv, p, err)
		}
		return p
	}
	cache := os.Getenv(cacheEnv)
	if cache == "" {
		cache = defaultCacheDir
	}
	root := filepath.Join(cache, "linux-6.1")
	if k := cachedKernel(root); k != "" {
		return k
	}
	for _, cmd := range []string{"apt-get", "apt-cache", "dpkg-deb", "tar"} {
		if _, err := exec.LookPath(cmd); err != nil {
			skipOrFail(t, "no kernel in %s (or $%s) and no %s to fetch one: "+
				"apt-get download linux-image-6.1.0-N-amd64 and dpkg -x it into %s", root, kernelEnv, cmd, root)
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		skipOrFail(t, "no kernel and cannot make the cache %s: %v", root, err)
	}
	// One fetch at a time, even across test processes.
	defer lockCache(t, cache)()
	if k := cachedKernel(root); k != "" {
		return k
	}
	k, err := fetchKernel(root)
	if err != nil {
		skipOrFail(t, "no kernel in %s and fetching one failed: %v\n"+
			"(apt-get download linux-image-6.1.0-N-amd64 and dpkg -x it into %s, or set $%s)", root, err, root, kernelEnv)
	}
	t.Logf("fetched %s", k)
	return k
}

// cachedKernel returns the newest root/boot/vmlinuz-6.1.*, or "".
func cachedKernel(root string) string {
	found, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-6.1.*"))
	var best string
	for _, f := range found {
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			continue
		}
		if best == "" || abiNumber(f) > abiNumber(best) {
			best = f
		}
	}
	return best
}

// abiNumber is N of vmlinuz-6.1.0-N-amd64 (or of the package name).
func abiNumber(s string) int {
	m := regexp.MustCompile(`6\.1\.0-([0-9]+)-amd64`).FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// fetchKernel downloads the newest linux-image-6.1.0-N-amd64 the package
// lists name (after apt-get update when they name none) and unpacks its
// boot/ into root.
func fetchKernel(root string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kernelFetchLimit)
	defer cancel()
	search := func() []string {
		out, _ := exec.CommandContext(ctx, "apt-cache", "search", "--names-only", kernelPackageRE).Output()
		var pkgs []string
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				pkgs = append(pkgs, f[0])
			}
		}
		sort.Slice(pkgs, func(i, j int) bool { return abiNumber(pkgs[i]) > abiNumber(pkgs[j]) })
		return pkgs
	}
	pkgs := search()
	if len(pkgs) == 0 {
		if out, err := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %v\n%s", err, out)
		}
		pkgs = search()
	}
	if len(pkgs) == 0 {
		return "", fmt.Errorf("apt-cache search %q lists nothing", kernelPackageRE)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), "fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755) // apt's _apt user may write there
	var errs []string
	for i, pkg := range pkgs {
		if i == 3 {
			break
		}
		dl := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
		dl.Dir = tmp
		if out, err := dl.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("apt-get download %s: %v\n%s", pkg, err, tail(string(out), 5)))
			continue
		}
		debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
		if len(debs) != 1 {
			errs = append(errs, fmt.Sprintf("apt-get download %s left %v", pkg, debs))
			continue
		}
		unpack := exec.CommandContext(ctx, "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./boot`, "sh", debs[0], tmp)
		if out, err := unpack.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("unpacking %s: %v\n%s", debs[0], err, out))
			continue
		}
		k := cachedKernel(tmp)
		if k == "" {
			errs = append(errs, pkg+" holds no boot/vmlinuz-6.1.*")
			continue
		}
		if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
			return "", err
		}
		// The kernel's config too: an image holding it gets what a real
		// distribution's does (zstd initrds when it has CONFIG_RD_ZSTD).
		config := filepath.Join(filepath.Dir(k), "config-"+strings.TrimPrefix(filepath.Base(k), "vmlinuz-"))
		if _, err := os.Stat(config); err == nil {
			if err := os.Rename(config, filepath.Join(root, "boot", filepath.Base(config))); err != nil {
				return "", err
			}
		}
		dst := filepath.Join(root, "boot", filepath.Base(k))
		if err := os.Rename(k, dst); err != nil {
			return "", err
		}
		return dst, nil
	}
	return "", fmt.Errorf("%s", strings.Join(errs, "\n"))
}

func haveFile(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// isStatic reports whether the ELF file at path has no program interpreter.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func grepLines(s, substr string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// lockCache takes the test cache's lock, so one process at a time fetches
// into it (the kernel, its modules), even across test processes; the
// returned func releases it.
func lockCache(t *testing.T, cache string) func() {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		skipOrFail(t, "cache lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		skipOrFail(t, "cache lock: %v", err)
	}
	return func() {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	}
}
