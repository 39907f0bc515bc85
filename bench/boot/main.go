// Command boot measures QEMU boot time (issue 13, `make bench-boot`): the
// same kernel, image and QEMU settings (TCG) booted through gitboot alone
// (`gitboot serve` in a network namespace) and through the reference
// setup (dnsmasq for DHCP, TFTP and IPv6 router advertisements, with
// --no-ping, and nginx serving the same kernel and one initrd made of the
// same files, with a static iPXE script), for a BIOS and a UEFI node.
//
//	sudo go run ./bench/boot [-boots 5] [-modes bios,uefi] [-targets gitboot,reference]
//
// Each boot is timed from QEMU's start (power-on) to the marker line the
// image's /sbin/init prints first on the serial console, and split into
// phases by the DHCP and HTTP packets tcpdump sees on the VM's tap and by
// lines OVMF and gitboot's /init print on the console (each console chunk
// is timestamped as it arrives); see README.md. The last stdout line is a JSON summary:
// median per mode and target, the ratio gitboot/reference, and the
// median of each phase.
//
// Everything runs in namespaces made for the run: per target one holding
// a bridge and the VM's tap, one holding the server at 10.99.0.1/24.
// Both targets' namespaces exist at once, so boots alternate between the
// targets round by round (load on a shared machine drifts over minutes).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

const (
	serverIP = "10.99.0.1"
	httpBase = "http://" + serverIP + ":9873"
	marker   = "BOOTBENCH-INIT"
	ovmfCode = "/usr/share/OVMF/OVMF_CODE.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS.fd"
)

// node is the lab node booted in one mode.
type node struct {
	name, mac, ip string
}

var nodes = map[string]node{
	"bios": {"n1", "52:54:00:99:00:01", "10.99.0.11"},
	"uefi": {"n2", "52:54:00:99:00:02", "10.99.0.12"},
}

func main() {
	boots := flag.Int("boots", 5, "boots per mode and target")
	modes := flag.String("modes", "bios,uefi", "firmware modes: bios, uefi")
	targets := flag.String("targets", "gitboot,reference", "servers: gitboot, reference")
	bin := flag.String("bin", "", "gitboot binary, with gitboot-agent next to it (default: `make build`'s bin/gitboot, built now)")
	deadline := flag.Duration("deadline", 10*time.Minute, "longest a boot may take to reach the marker")
	parallel := flag.Bool("parallel", true, "boot each round's gitboot and reference VMs at the same time (each pair sees the same load; false: one after the other)")
	packing := flag.String("reference-packing", packingClassic, "what the reference serves: classic (one gzip initrd, the image with its /boot, as gitboot packed before zstd and exclude: measures packing and servers) or same (gitboot's own initrds concatenated: measures the servers alone)")
	keep := flag.Bool("keep", false, "keep the temporary directory (serial and server logs)")
	image := flag.String("image", imageBusybox, "what the nodes boot: busybox (made for the run, 1.3 MB packed: measures servers and iPXE), debian (the real Debian 12 image with its /boot, scripts/debian-image.sh's unpruned tar) or an image tar file")
	attrs := flag.String("image-attrs", "", `attributes added to the lab's image block, ";"-separated (e.g. 'boot = "two-stage"; compression = "none"')`)
	flag.Parse()
	cfg := config{boots: *boots, modes: split(*modes), targets: split(*targets), bin: *bin, deadline: *deadline, keep: *keep, parallel: *parallel, packing: *packing, image: *image, imageAttrs: *attrs}
	benchenv.Main("boot", func(ctx context.Context) (any, error) { return run(ctx, cfg) })
}

type config struct {
	boots          int
	modes, targets []string
	bin            string
	deadline       time.Duration
	keep, parallel bool
	packing        string
	image          string // -image
	imageAttrs     string // -image-attrs
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run builds gitboot and the image, starts gitboot serve (and the
// reference servers when they are a target), boots every node and returns
// the summary it printed.
func run(ctx context.Context, cfg config) (*summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkTools(cfg); err != nil {
		return nil, err
	}
	dir, done, err := benchenv.TempDir("gitboot-bench-boot-", cfg.keep)
	if err != nil {
		return nil, err
	}
	defer done()
	root, err := benchenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	if cfg.bin, err = benchenv.MakeBuild(root, cfg.bin); err != nil {
		return nil, err
	}
	kernel, err := findKernel()
	if err != nil {
		return nil, err
	}
	img, err := prepareImage(dir, root, cfg.image, kernel)
	if err != nil {
		return nil, err
	}
	repo, err := labRepo(dir, root, cfg.imageAttrs)
	if err != nil {
		return nil, err
	}

	// gitboot serve always runs: the reference serves the files it built.
	g, err := newLab("g")
	if err != nil {
		return nil, err
	}
	defer g.Close()
	serve, err := g.start(filepath.Join(dir, "serve.log"), cfg.bin, "serve", "--repo", repo,
		"--state", filepath.Join(dir, "state"), "--var", "image_source="+img.source, "--image-root", filepath.Dir(img.source))
	if err != nil {
		return nil, err
	}
	defer serve.stop()
	if err := g.WaitHTTP(ctx, httpBase+"/healthz", 90*time.Second, 200*time.Millisecond); err != nil {
		return nil, fmt.Errorf("gitboot serve did not become ready: %w\n%s", err, serve.tail())
	}
	sum := &summary{Date: time.Now().UTC().Format(time.RFC3339), Boots: cfg.boots, Modes: cfg.modes, Targets: cfg.targets, Image: cfg.image,
		Kernel: filepath.Base(kernel), QEMU: benchenv.Version("qemu-system-x86_64", "--version"), Medians: map[string]float64{},
		Ratio: map[string]float64{}, Phases: map[string]map[string]float64{}}
	ref, err := prepareReference(ctx, g, dir, img.bootDir, cfg.packing, cfg.modes)
	if err != nil {
		return nil, err
	}
	sum.Sizes, sum.Packing = ref.sizes, cfg.packing
	var r *lab
	if contains(cfg.targets, "reference") {
		sum.Peers = benchenv.Version("dnsmasq", "--version") + "; " + benchenv.Version("nginx", "-v")
		if r, err = newLab("r"); err != nil {
			return nil, err
		}
		defer r.Close()
		stopRef, err := r.startReference(ctx, ref)
		if err != nil {
			return nil, err
		}
		defer stopRef()
		if err := r.WaitHTTP(ctx, httpBase+"/"+nodes[cfg.modes[0]].name+".ipxe", 30*time.Second, 200*time.Millisecond); err != nil {
			return nil, fmt.Errorf("the reference nginx did not answer: %w", err)
		}
	}
	all, err := bootAll(ctx, cfg, g, r, dir, img)
	if err != nil {
		return nil, err
	}
	sum.add(all)
	sum.print()
	return sum, nil
}

// labRepo makes a git repository of the module's examples/lab in dir and
// returns its path.
func labRepo(dir, root, attrs string) (string, error) {
	repo := filepath.Join(dir, "lab")
	if err := benchenv.Run("cp", "-r", filepath.Join(root, "examples", "lab"), repo); err != nil {
		return "", err
	}
	if attrs != "" {
		if err := addImageAttrs(filepath.Join(repo, "cluster.hcl"), attrs); err != nil {
			return "", err
		}
	}
	if err := benchenv.Commit(repo, "lab cluster"); err != nil {
		return "", err
	}
	return repo, nil
}

// addImageAttrs adds attrs (";"-separated HCL attributes) to the image
// block of the lab's cluster.hcl.
func addImageAttrs(file, attrs string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	const src = "  source = var.image_source\n"
	if !bytes.Contains(b, []byte(src)) {
		return fmt.Errorf("%s: no %q to add -image-attrs after", file, strings.TrimSpace(src))
	}
	var add strings.Builder
	for _, a := range strings.Split(attrs, ";") {
		if a = strings.TrimSpace(a); a != "" {
			add.WriteString("  " + a + "\n")
		}
	}
	return os.WriteFile(file, bytes.Replace(b, []byte(src), []byte(src+add.String()), 1), 0o644)
}

// validate checks the flags' values.
func (cfg config) validate() error {
	if cfg.boots < 1 {
		return fmt.Errorf("-boots %d: want at least 1", cfg.boots)
	}
	for _, m := range cfg.modes {
		if _, ok := nodes[m]; !ok {
			return fmt.Errorf("-modes: unknown mode %q (bios, uefi)", m)
		}
	}
	for _, tg := range cfg.targets {
		if tg != "gitboot" && tg != "reference" {
			return fmt.Errorf("-targets: unknown target %q (gitboot, reference)", tg)
		}
	}
	if cfg.packing != packingClassic && cfg.packing != packingSame {
		return fmt.Errorf("-reference-packing %q: want %s or %s", cfg.packing, packingClassic, packingSame)
	}
	return nil
}

// bootAll boots every mode on every target cfg.boots times, g being
// gitboot's lab and r the reference's (nil when it is not a target), and
// prints each result. A failed boot is counted (Seconds -1) and said; the
// run goes on unless ctx is done.
func bootAll(ctx context.Context, cfg config, g, r *lab, dir string, img *bootImage) ([]bootResult, error) {
	var all []bootResult
	for i := 0; i < cfg.boots; i++ {
		for _, mode := range cfg.modes {
			res, errs := bootTargets(ctx, cfg, g, r, dir, img, mode, i)
			for j, tg := range cfg.targets {
				if errs[j] != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					// One boot failing (under TCG on a starved machine the
					// guest kernel may panic in its timer check) is counted
					// and said; the medians are of the boots that reached init.
					fmt.Fprintf(os.Stderr, "bench/boot: %s %s boot %d failed: %v\n", tg, mode, i+1, errs[j])
					all = append(all, bootResult{Target: tg, Mode: mode, Boot: i + 1, Seconds: -1, Note: "failed: " + benchenv.FirstLine(errs[j].Error())})
					fmt.Printf("%-9s %-4s boot %d: FAILED: %s\n", tg, mode, i+1, benchenv.FirstLine(errs[j].Error()))
					continue
				}
				all = append(all, res[j])
				fmt.Printf("%-9s %-4s boot %d: %5.1f s to the image's init: %s\n", tg, mode, i+1, res[j].Seconds, res[j].phaseLine())
			}
		}
	}
	return all, nil
}

// bootTargets boots boot i in mode on each target, one after the other or
// (cfg.parallel) at once, and returns their results and errors in
// cfg.targets order.
func bootTargets(ctx context.Context, cfg config, g, r *lab, dir string, img *bootImage, mode string, i int) ([]bootResult, []error) {
	res := make([]bootResult, len(cfg.targets))
	errs := make([]error, len(cfg.targets))
	var wg sync.WaitGroup
	for j, tg := range cfg.targets {
		l := g
		if tg == "reference" {
			l = r
		}
		run := func() { res[j], errs[j] = l.boot(ctx, dir, img, mode, tg, i, cfg.deadline) }
		if !cfg.parallel {
			run()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	wg.Wait()
	return res, errs
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// checkTools names the first command or file the run needs and lacks.
func checkTools(cfg config) error {
	need := []string{"qemu-system-x86_64", "git", "curl", "busybox"}
	if contains(cfg.targets, "reference") {
		need = append(need, "dnsmasq", "nginx")
	}
	for _, c := range need {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%s is needed (apt-get install qemu-system-x86 ipxe ipxe-qemu ovmf busybox-static dnsmasq nginx curl git): %w", c, err)
		}
	}
	files := []string{"/usr/lib/ipxe/snponly.efi", "/usr/lib/ipxe/undionly.kpxe"}
	if contains(cfg.modes, "uefi") {
		files = append(files, ovmfCode, ovmfVars)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s is needed (packages ipxe, ovmf): %w", f, err)
		}
	}
	return nil
}

// findKernel is the test kernel test/e2e and scripts/demo.sh use:
// $GITBOOT_TEST_KERNEL, else the newest vmlinuz-6.1.* in the cache.
func findKernel() (string, error) {
	if k := os.Getenv("GITBOOT_TEST_KERNEL"); k != "" {
		return k, nil
	}
	cache := os.Getenv("GITBOOT_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/gitboot-test"
	}
	found, _ := filepath.Glob(filepath.Join(cache, "linux-6.1", "boot", "vmlinuz-6.1.*"))
	sort.Strings(found)
	if len(found) == 0 {
		return "", fmt.Errorf("no kernel in %s/linux-6.1/boot: run `make demo` or the QEMU e2e tests once (they fetch it), or set $GITBOOT_TEST_KERNEL", cache)
	}
	return found[len(found)-1], nil
}

// initScript is the image's /sbin/init: the marker first, then power off.
const initScript = `#!/bin/sh
export PATH=/bin:/sbin
[ -c /dev/console ] || mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "` + marker + ` $(cut -d' ' -f1 /proc/uptime)"
sleep 1
poweroff -f
`

// makeImage writes the image tree: static busybox, initScript, the
// kernel and its network modules (from the cache next to the kernel,
// where test/e2e and scripts/demo.sh put them).
func makeImage(dir, kernel string) error {
	for _, d := range []string{"bin", "sbin", "boot", "etc", "lib", "proc", "sys", "dev", "run", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return err
	}
	if err := benchenv.Run("cp", "-L", bb, filepath.Join(dir, "bin", "busybox")); err != nil {
		return err
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" || a == "init" || strings.Contains(a, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sbin", "init"), []byte(initScript), 0o755); err != nil {
		return err
	}
	if err := benchenv.Run("cp", kernel, filepath.Join(dir, "boot")); err != nil {
		return err
	}
	kver := strings.TrimPrefix(filepath.Base(kernel), "vmlinuz-")
	// The kernel's config, as a distribution's image has it: gitboot packs
	// zstd when it says CONFIG_RD_ZSTD=y, gzip without it.
	config := filepath.Join(filepath.Dir(kernel), "config-"+kver)
	if _, err := os.Stat(config); err == nil {
		if err := benchenv.Run("cp", config, filepath.Join(dir, "boot")); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(os.Stderr, "bench/boot: no %s: the image initrd will be gzip (a kernel config saying CONFIG_RD_ZSTD=y makes it zstd)\n", config)
	}
	mods := filepath.Join(filepath.Dir(filepath.Dir(kernel)), "lib", "modules", kver)
	if _, err := os.Stat(filepath.Join(mods, "kernel", "drivers", "net", "virtio_net.ko")); err != nil {
		return fmt.Errorf("the network modules of %s are not in %s (run `make demo` once to fetch them): %w", kver, mods, err)
	}
	dst := filepath.Join(dir, "lib", "modules", kver)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := benchenv.Run("cp", "-r", mods+"/.", dst+"/"); err != nil {
		return err
	}
	if err := benchenv.Run(bb, "depmod", "-b", dir, kver); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("NAME=\"gitboot bench\"\nID=gitboot-bench\n"), 0o644)
}
