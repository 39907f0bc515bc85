// Command debian measures the real Debian 12 image through gitboot
// (issue 17, `make bench-debian`). Packing: `gitboot apply` into an empty
// state directory builds the node's artifacts from the cached image tar
// (made by scripts/debian-image.sh); measured are gitboot's wall time,
// peak RSS and CPU, and the artifact sizes. Booting: power-on to systemd's
// multi-user.target of a BIOS QEMU node (TCG, -m 2560) served by
// `gitboot serve` on that state, median of -boots, split into phases (see
// phases.go).
//
//	sudo go run ./bench/debian [-boots 5] [-bin bin/gitboot] [-keep]
//
// The last stdout line is a JSON summary. Everything runs in namespaces
// made for the run: one holding a bridge and the VM's tap, one holding
// the server at 10.99.0.1/24.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

const (
	serverIP = "10.99.0.1"
	nodeMAC  = "52:54:00:99:00:31"
	nodeIP   = "10.99.0.31"
)

// memory is the VM's RAM in MiB (-mem).
var memory = "2560"

// cluster is the benchmark's repository: one node, the Debian image, the
// kernel's console on ttyS0, and besides gitboot's own overlays and the
// hostname only overlay "marker": a unit wanted by multi-user.target and
// ordered after it, printing its line on the console (markerUnit) (systemd's own
// "Reached target ... Multi-User System" status line is held back while a
// getty uses the serial console, so it is not always there).
const cluster = `server "head" {
  address  = "` + serverIP + `"
  networks = [network.cluster]
}

network "cluster" {
  subnet     = "10.99.0.0/24"
  gateway    = "10.99.0.1"
  dns        = ["10.99.0.1"]
  lease_time = "1h"
}

variable "image_source" {
  type = string
}

variable "compression" {
  type    = string
  default = null # gitboot's default: zstd, the kernel has CONFIG_RD_ZSTD
}

image "debian12" {
  source      = var.image_source
  compression = var.compression
  %BOOT%
}

overlay "hostname" {
  builtin = "hostname"
}

overlay "marker" {
  source = "overlays/marker"
}

node "d1" {
  mac              = "` + nodeMAC + `"
  ip               = "` + nodeIP + `"
  image            = image.debian12
  network          = network.cluster
  kernel_args      = ["console=ttyS0"]
  system_overlays  = [overlay.marker]
  runtime_overlays = [overlay.hostname]
  %ROOTSIZE%
}
`

// markerUnit prints "GBMULTIUSER target=active" once multi-user.target
// is reached.
const markerUnit = `[Unit]
Description=bench/debian: multi-user.target reached
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "GBMULTIUSER target=$(systemctl is-active multi-user.target)" >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
`

func main() {
	boots := flag.Int("boots", 5, "boots of the BIOS node")
	bin := flag.String("bin", "", "gitboot binary, with gitboot-agent next to it (default: `make build`'s bin/gitboot, built now)")
	image := flag.String("image", "", "the Debian image tar (default: scripts/debian-image.sh's, made now when missing)")
	deadline := flag.Duration("deadline", 8*time.Minute, "longest a boot may take to reach multi-user.target")
	keep := flag.Bool("keep", false, "keep the temporary directory (serial and server logs)")
	compression := flag.String("compression", "", "the image block's compression (zstd, gzip, none); default: gitboot's choice")
	bootMode := flag.String("boot", "", `the image's boot attribute: "one-stage" or "two-stage" (default: the image's default, "auto")`)
	padMB := flag.Int("pad-mb", 0, "grow the image by a file of this many MiB of random bytes (/var/gbpad/pad.bin; incompressible)")
	fromRegistry := flag.Bool("registry", false, "push the image to a local registry (go-containerregistry's, on loopback) and pack from oci://, timing the pull")
	padLike := flag.Bool("pad-like-image", false, "fill -pad-mb with the image tar's own bytes repeated (compressible as the image), not random bytes")
	flag.StringVar(&memory, "mem", memory, "the VM's RAM in MiB")
	flag.Parse()
	cfg := config{boots: *boots, bin: *bin, image: *image, deadline: *deadline, keep: *keep, boot: *bootMode, padMB: *padMB, padLike: *padLike, registry: *fromRegistry, compression: *compression}
	benchenv.Main("debian", func(ctx context.Context) (any, error) { return run(ctx, cfg) })
}

type config struct {
	boots       int // 0: packing only
	bin, image  string
	deadline    time.Duration
	keep        bool
	boot        string
	padMB       int
	padLike     bool
	registry    bool   // pack from a local registry
	compression string // the image block's; empty: gitboot's default
}

// clusterHCL is the cluster with the image's boot mode; a tmpfs root
// for two-stage nodes may take 95% of RAM (the default 50% cannot hold
// a padded image).
func (c config) clusterHCL() string {
	b, rs := "", ""
	if c.boot != "" {
		b = fmt.Sprintf("boot        = %q", c.boot)
		rs = `root_size        = "95%"`
	}
	return strings.NewReplacer("%BOOT%", b, "%ROOTSIZE%", rs).Replace(cluster)
}

// run packs the Debian image with gitboot (from a local registry with
// -registry) and, unless -boots is 0, serves it and boots the node
// cfg.boots times to multi-user.target.
func run(ctx context.Context, cfg config) (*summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	root, err := benchenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	if cfg.image == "" {
		out, err := exec.Command(filepath.Join(root, "scripts", "debian-image.sh")).Output()
		if err != nil {
			return nil, fmt.Errorf("scripts/debian-image.sh: %w", err)
		}
		cfg.image = strings.TrimSpace(string(out))
	}
	dir, done, err := benchenv.TempDir("gitboot-bench-debian-", cfg.keep)
	if err != nil {
		return nil, err
	}
	defer done()
	repo, err := cfg.prepare(root, dir)
	if err != nil {
		return nil, err
	}
	sum, err := cfg.newSummary()
	if err != nil {
		return nil, err
	}

	state := filepath.Join(dir, "state")
	if cfg.registry {
		if cfg.boots > 0 {
			return nil, fmt.Errorf("-registry is for packing only (-boots 0)")
		}
		src, push, stop, err := serveRegistry(cfg.image)
		if err != nil {
			return nil, err
		}
		defer stop()
		fmt.Printf("pushed %s to the local registry in %.1f s\n", cfg.image, push.Seconds())
		cfg.image, sum.Image = src, src
	}
	var vars []string
	if cfg.compression != "" {
		vars = append(vars, "--var", "compression="+cfg.compression)
	}
	sum.Compression = cfg.compression
	if sum.Pack, err = pack(cfg.bin, repo, state, cfg.image, vars...); err != nil {
		return nil, err
	}
	fmt.Printf("packing (compression %q): %.1f s, peak RSS %d MB, CPU %.1f s; artifacts %v\n", cfg.compression, sum.Pack.Seconds, sum.Pack.PeakRSS>>20, sum.Pack.CPU, sum.Pack.Artifacts)
	if cfg.boots == 0 {
		return sum, nil
	}

	l, err := newLab()
	if err != nil {
		return nil, err
	}
	defer l.Close()
	serve, err := l.Start(filepath.Join(dir, "serve.log"), cfg.bin, append([]string{"serve", "--repo", repo, "--state", state,
		"--var", "image_source=" + cfg.image, "--image-root", filepath.Dir(cfg.image)}, vars...)...)
	if err != nil {
		return nil, err
	}
	defer serve.Stop(syscall.SIGTERM, 5*time.Second)
	if err := l.WaitHTTP(ctx, "http://"+serverIP+":9873/healthz", 5*time.Minute, time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		return nil, fmt.Errorf("gitboot serve did not become ready: %w\n%s", err, benchenv.Tail(b, 3000))
	}
	if err := bootAll(ctx, l, dir, cfg, sum); err != nil {
		return nil, err
	}
	sum.finish()
	sum.print()
	if sum.Median == 0 {
		return sum, errors.New("no boot reached multi-user.target")
	}
	return sum, nil
}

// validate checks the flags' values and that the tools the bench runs are
// installed.
func (c config) validate() error {
	if c.boots < 0 {
		return fmt.Errorf("-boots %d: want 0 (packing only) or more", c.boots)
	}
	if c.boot != "" && c.boot != "one-stage" && c.boot != "two-stage" {
		return fmt.Errorf(`-boot %q: want "one-stage" or "two-stage"`, c.boot)
	}
	for _, tool := range []string{"qemu-system-x86_64", "git", "curl", "tcpdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed (apt-get install qemu-system-x86 ipxe-qemu git curl tcpdump): %w", tool, err)
		}
	}
	return nil
}

// prepare readies the bench's inputs in dir: the image padded (-pad-mb),
// gitboot built (module root root) and the cluster repository, whose path
// it returns.
func (c *config) prepare(root, dir string) (string, error) {
	var err error
	if c.padMB > 0 {
		if c.image, err = padImage(c.image, dir, c.padMB, c.padLike); err != nil {
			return "", err
		}
	}
	if c.bin, err = benchenv.MakeBuild(root, c.bin); err != nil {
		return "", err
	}
	return c.writeRepo(dir)
}

// newSummary starts the summary of a run with c's settings.
func (c config) newSummary() (*summary, error) {
	fi, err := os.Stat(c.image)
	if err != nil {
		return nil, err
	}
	return &summary{Date: time.Now().UTC().Format(time.RFC3339), Boots: c.boots, Image: c.image, ImageBytes: fi.Size(),
		BootMode: c.boot, MemoryMiB: memory,
		QEMU: benchenv.Version("qemu-system-x86_64", "--version")}, nil
}

// writeRepo writes and commits the cluster repository in dir/repo: the
// cluster and an overlay with a unit that prints a marker on the serial
// console when multi-user.target is reached.
func (c config) writeRepo(dir string) (string, error) {
	repo := filepath.Join(dir, "repo")
	units := "overlays/marker/etc/systemd/system/"
	if err := benchenv.WriteFiles(repo, map[string]string{"cluster.hcl": c.clusterHCL(), units + "gbmultiuser.service": markerUnit}); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(repo, units, "multi-user.target.wants"), 0o755); err != nil {
		return "", err
	}
	if err := os.Symlink("../gbmultiuser.service", filepath.Join(repo, units, "multi-user.target.wants", "gbmultiuser.service")); err != nil {
		return "", err
	}
	if err := benchenv.Commit(repo, "debian bench"); err != nil {
		return "", err
	}
	return repo, nil
}

// bootAll boots the node cfg.boots times and adds each result to sum;
// a failed boot is counted (Seconds -1) and said, and the runs go on
// unless ctx is done.
func bootAll(ctx context.Context, l *benchenv.Lab, dir string, cfg config, sum *summary) error {
	for i := 0; i < cfg.boots; i++ {
		res, err := boot(ctx, l, dir, i, cfg.deadline)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(os.Stderr, "bench/debian: boot %d failed: %v\n", i+1, err)
			fmt.Printf("boot %d: FAILED: %s\n", i+1, benchenv.FirstLine(err.Error()))
			sum.Runs = append(sum.Runs, bootResult{Boot: i + 1, Seconds: -1, Note: "failed: " + benchenv.FirstLine(err.Error())})
			continue
		}
		res.Boot = i + 1
		sum.Runs = append(sum.Runs, res)
		fmt.Printf("boot %d: %5.1f s to multi-user.target: %s\n", i+1, res.Seconds, res.phaseLine())
	}
	return nil
}
