package main

import (
	"context"
	"errors"
	"fmt"

	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Stage one of a two-stage boot. A two-stage image's iPXE script loads
// the kernel and a small initramfs whose /init is this binary; run as PID
// 1 under that name, it:
//
//  1. mounts /proc, /sys and /dev;
//  2. loads the drivers of the node's devices from the initramfs's
//     modules (modules.alias), finds the boot interface by gitboot.mac=
//     and gives it gitboot.ip= (and the gitboot.gateway= default route);
//  3. mounts a tmpfs of gitboot.root_size= (default 50% of RAM) and
//     streams into it, in order, each artifact gitboot.stage2= names
//     (NAME:SHA256, fetched from /NAME/MAC/SHA256; the runtime overlay
//     from /runtime-initrd/, wrapped as in a one-stage boot) — unpacking as
//     the bytes arrive, so the image is never held twice in RAM, resuming
//     a dropped connection with a Range request, and refusing an artifact
//     whose sha256 differs: the tmpfs is then emptied and everything is
//     downloaded again (3 attempts), so nothing of a bad download runs;
//  4. takes the interface down again, moves /proc, /sys and /dev into the
//     new root, frees the initramfs, and switch_roots into gitboot's /init
//     there (GITBOOT_ROOT_DONE=1: the root is already a tmpfs), which
//     boots the node as in a one-stage boot.
//
// A failure prints why on the console, reports INIT_FAILED to the server
// when the network is up, and reboots after 60 s.

// Stage-one settings.
const (
	stageOneAttempts = 3
	stageOneNewRoot  = "/newroot"
	stageOneReboot   = 60 * time.Second
	ifaceWait        = 30 * time.Second
)

// stageOneConfig is what stage one reads from the kernel command line.
type stageOneConfig struct {
	server   string
	mac      net.HardwareAddr
	addr     netip.Prefix
	gateway  netip.Addr
	rootSize string
	items    []stage2Item
}

// stage2Item is one artifact of gitboot.stage2=.
type stage2Item struct{ name, hex string }

// isStageOne says whether this process is a stage-one init.
func isStageOne() bool {
	return os.Getpid() == 1 && filepath.Base(os.Args[0]) == "init"
}

// parseStageOne reads the stage-one settings from a kernel command line.
func parseStageOne(cmdline string) (*stageOneConfig, error) {
	kv := parseCmdline(cmdline)
	cfg := &stageOneConfig{server: strings.TrimRight(kv["gitboot.server"], "/"), rootSize: kv["gitboot.root_size"]}
	var errs []error
	if !strings.HasPrefix(cfg.server, "http://") {
		errs = append(errs, fmt.Errorf("gitboot.server=%q is not an http:// URL", kv["gitboot.server"]))
	}
	var err error
	if cfg.mac, err = net.ParseMAC(kv["gitboot.mac"]); err != nil {
		errs = append(errs, fmt.Errorf("gitboot.mac=%q: %v", kv["gitboot.mac"], err))
	}
	if cfg.addr, err = netip.ParsePrefix(kv["gitboot.ip"]); err != nil || !cfg.addr.Addr().Is4() {
		errs = append(errs, fmt.Errorf("gitboot.ip=%q: want the node's IPv4 ADDRESS/PREFIX", kv["gitboot.ip"]))
	}
	if g := kv["gitboot.gateway"]; g != "" {
		if cfg.gateway, err = netip.ParseAddr(g); err != nil {
			errs = append(errs, fmt.Errorf("gitboot.gateway=%q: %v", g, err))
		}
	}
	if cfg.rootSize == "" {
		cfg.rootSize = "50%"
	}
	if strings.ContainsAny(cfg.rootSize, ",") {
		errs = append(errs, fmt.Errorf("gitboot.root_size=%q", cfg.rootSize))
	}
	for _, it := range strings.Split(kv["gitboot.stage2"], ",") {
		name, hex, ok := strings.Cut(it, ":")
		if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" || !stage2Name(name) {
			errs = append(errs, fmt.Errorf("gitboot.stage2: %q is not NAME:SHA256", it))
			continue
		}
		cfg.items = append(cfg.items, stage2Item{name, hex})
	}
	return cfg, errors.Join(errs...)
}

func stage2Name(n string) bool {
	switch {
	case n == "image", n == "system", n == "runtime":
		return true
	case strings.HasPrefix(n, "extra"):
		d := n[len("extra"):]
		return len(d) >= 1 && len(d) <= 2 && strings.Trim(d, "0123456789") == ""
	}
	return false
}

// url returns where stage one fetches an item, and the file inside it
// whose content the digest covers ("" for the whole download).
func (c *stageOneConfig) url(it stage2Item) (string, string) {
	mac := strings.ToLower(c.mac.String())
	switch {
	case it.name == "runtime":
		return c.server + "/runtime-initrd/" + mac + "/" + it.hex, runtimeInitrdFile
	case strings.HasPrefix(it.name, "extra"):
		return c.server + "/extra/" + mac + "/" + it.name[len("extra"):] + "/" + it.hex, ""
	}
	return c.server + "/" + it.name + "/" + mac + "/" + it.hex, ""
}

// runtimeInitrdFile is the one file of /runtime-initrd/ (bootsvc/httpboot
// RuntimeInitrdFile), which gitboot's /init hands to the agent.
const runtimeInitrdFile = ".gitboot-runtime.img.gz"

// streamAll downloads every item into dir (a fresh, empty directory),
// returning the bytes downloaded. On errDigest the caller empties dir.
func (c *stageOneConfig) streamAll(ctx context.Context, client *http.Client, dir string, log *slog.Logger) (int64, error) {
	root, err := openDir(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	x := newExtractor(root)
	var total int64
	for _, it := range c.items {
		url, inner := c.url(it)
		t0 := time.Now()
		n, err := fetchInto(ctx, client, url, it.hex, inner, x, log)
		total += n
		if err != nil {
			return total, fmt.Errorf("%s: %w", it.name, err)
		}
		log.Info("stage one: unpacked", "artifact", it.name, "bytes", n, "files", x.files,
			"took", time.Since(t0).Round(time.Millisecond))
	}
	return total, nil
}

// stageOneClient is the HTTP client of stage one: plain HTTP to the boot
// listener (as iPXE), no proxy, no transparent decompression.
func stageOneClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   1,
	}}
}

// stageOneMain is the whole stage-one program; it returns only on failure
// (after the reboot delay).
func stageOneMain() int {
	unix.Umask(0)
	for _, m := range []struct{ fs, dir string }{{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Fprintf(os.Stderr, "gitboot stage one: mounting %s: %v\n", m.dir, err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, _ := os.ReadFile("/proc/cmdline")
	cfg, err := parseStageOne(string(b))
	if err == nil {
		err = runStageOne(context.Background(), cfg, log)
	}
	fmt.Fprintf(os.Stderr, "gitboot stage one: FAILED: %v\n", err)
	if cfg != nil && cfg.server != "" && cfg.mac != nil {
		reason := "stage one: " + err.Error()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		postReason(ctx, &http.Client{Timeout: 10 * time.Second}, cfg.server+"/init-failed/"+strings.ToLower(cfg.mac.String()), reason[:min(len(reason), maxReason)])
		cancel()
	}
	fmt.Fprintf(os.Stderr, "gitboot stage one: rebooting in %s\n", stageOneReboot)
	time.Sleep(stageOneReboot)
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	return 1
}

// runStageOne does steps 2-4; it returns only on failure.
func runStageOne(ctx context.Context, cfg *stageOneConfig, log *slog.Logger) error {
	var uts unix.Utsname
	unix.Uname(&uts)
	kver := unix.ByteSliceToString(uts.Release[:])
	modDir := "/lib/modules/" + kver
	loadDrivers(modDir, cfg.mac, log)
	var ifc *net.Interface
	for deadline := time.Now().Add(ifaceWait); ifc == nil; time.Sleep(500 * time.Millisecond) {
		if ifc = ifaceByMAC(cfg.mac); ifc == nil && time.Now().After(deadline) {
			return fmt.Errorf("no interface with MAC %s after %s (its driver is not among the stage-one modules? set stage_one_modules on the image)", cfg.mac, ifaceWait)
		}
	}
	if err := ifUp(ifc, cfg.addr, cfg.gateway); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	log.Info("stage one: network up", "interface", ifc.Name, "address", cfg.addr, "gateway", cfg.gateway)
	os.RemoveAll("/lib/modules") // loaded: give their RAM back before the image comes
	client := stageOneClient()
	var err error
	for attempt := 1; attempt <= stageOneAttempts; attempt++ {
		if err = mountNewRoot(cfg.rootSize); err != nil {
			return err
		}
		t0 := time.Now()
		var n int64
		n, err = cfg.streamAll(ctx, client, stageOneNewRoot, log)
		if err == nil {
			log.Info("stage one: root ready", "bytes", n, "took", time.Since(t0).Round(time.Millisecond))
			break
		}
		unix.Unmount(stageOneNewRoot, unix.MNT_DETACH) // nothing of a refused download stays
		if !errors.Is(err, errDigest) {
			return err
		}
		log.Error("stage one: download refused, nothing of it runs; downloading again", "attempt", attempt, "err", err)
	}
	if err != nil {
		return err
	}
	ifDown(ifc.Name)
	return switchRoot(stageOneNewRoot)
}

// mountNewRoot mounts an empty tmpfs of size at stageOneNewRoot.
func mountNewRoot(size string) error {
	os.MkdirAll(stageOneNewRoot, 0o755)
	if err := unix.Mount("tmpfs", stageOneNewRoot, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs of size=%s at %s: %w", size, stageOneNewRoot, err)
	}
	return nil
}

// switchRoot moves /dev, /proc and /sys into dir, frees the initramfs,
// makes dir the root and execs its /init.
func switchRoot(dir string) error {
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		os.MkdirAll(dir+m, 0o755)
		if err := unix.Mount(m, dir+m, "", unix.MS_MOVE, ""); err != nil {
			unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	if ents, err := os.ReadDir("/"); err == nil {
		for _, e := range ents {
			if "/"+e.Name() != dir {
				os.RemoveAll("/" + e.Name())
			}
		}
	}
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch_root: moving %s to /: %w", dir, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch_root: chroot: %w", err)
	}
	unix.Chdir("/")
	env := append(os.Environ(), "GITBOOT_ROOT_DONE=1")
	err := unix.Exec("/init", []string{"/init"}, env)
	return fmt.Errorf("switch_root: exec /init in the new root: %w (is gitboot's init overlay in the system overlay?)", err)
}
