// Command gitboot-agent runs on every node: it pulls the node's runtime
// overlay from the gitboot server at an interval and applies it.
//
// gitboot's /init starts it in the background (it is
// /usr/lib/gitboot/gitboot-agent in every system overlay):
//
//	gitboot-agent --server URL --mac MAC [--agent-url https://HOST:PORT] [--interval 60s] [--secure] [--root /] [--once [--from FILE]] [--no-post-apply]
//
// Flags not given are read from the kernel command line (gitboot.server=,
// gitboot.agent=, gitboot.mac=, gitboot.interval=, gitboot.secure=1), which
// the server's iPXE script sets. The agent talks HTTPS only, to the
// server's https_port (--agent-url; else --server's host at port 9874),
// trusting only the CA its system overlay carries (/usr/lib/gitboot/ca.pem,
// no system roots), and applies only runtime overlays signed with the
// server's overlay key (/usr/lib/gitboot/overlay.pub; the signature is the
// X-Gitboot-Signature header, or FILE.sig for --from FILE): an unsigned or
// wrongly signed overlay is refused with a log line and the last good state
// stays. Every interval (±10 %) it fetches
// {agent-url}/runtime/{mac} with If-None-Match; a changed overlay (cpio newc,
// gzip) is applied file by file and atomically, with each entry's mode and
// owner, through the image's own symlinks (sbin/x lands at usr/sbin/x when
// /sbin -> usr/sbin), and labelled for SELinux when the node enables it.
// Files that the previous overlay installed and the new one lacks are
// removed, or replaced by the node's own copy the agent kept when an
// overlay first replaced it (the record is
// /var/lib/gitboot-agent/manifest.json under --root, the copies are under
// /var/lib/gitboot-agent/orig). An overlay with an unsafe entry is refused
// whole. After an apply that changed (wrote or
// removed) files of an overlay with a post_apply command (listed in the
// overlay's /var/lib/gitboot-agent/overlays.json), the agent runs it with
// /bin/sh -c (5 minute timeout; a failure is logged only). SIGHUP fetches at once; a failed fetch is
// retried with backoff. Logs go to stderr.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// config is the agent's settings, from flags and the kernel command line.
type config struct {
	server string // base URL, e.g. http://10.99.0.1:9873
	// agentURL is the HTTPS base the agent talks to, e.g.
	// https://10.99.0.1:9874 (agentBase).
	agentURL string
	caFile   string // the pinned CA (PEM)
	keyFile  string // the overlay public key (PEM)
	mac      string // canonical, lower case with colons
	interval time.Duration
	secure   bool
	root     string
	once     bool
	from     string // --once from this file instead of the server (fromfile.go)
	debug    bool
	assetKey string // file holding the node's asset key (secure mode)
	// noPostApply: overlays' post_apply commands are logged, not run.
	noPostApply bool
	// initFailed is --report-init-failed REASON (report.go).
	initFailed string
}

// Defaults and bounds.
const (
	defaultInterval = 60 * time.Second
	minInterval     = time.Second
	firstRetry      = 2 * time.Second
)

func main() {
	if isStageOne() {
		os.Exit(stageOneMain()) // a two-stage image's stage-one init (stage1.go)
	}
	os.Exit(run(os.Args[1:], os.Stderr, readCmdline))
}

func readCmdline() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return string(b)
}

// run is the whole program: it returns the exit code (0, or 1 for a failed
// --once, 2 for bad usage).
func run(args []string, stderr io.Writer, cmdline func() string) int {
	cfg, err := parseConfig(args, stderr, cmdline)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "gitboot-agent:", err)
		return 2
	}
	level := slog.LevelInfo
	if cfg.debug {
		level = slog.LevelDebug
	}
	if cfg.initFailed != "" {
		return reportInitFailed(context.Background(), cfg, cfg.initFailed, stderr)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	a, err := newAgent(cfg, log)
	if err != nil {
		log.Error("gitboot-agent cannot run", "err", err)
		return 1
	}
	if cfg.once {
		once := a.once
		if cfg.from != "" {
			once = a.applyBootFile
		}
		if err := once(context.Background()); err != nil {
			log.Error("runtime overlay not applied", "err", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	log.Info("gitboot-agent started", "server", cfg.agentURL, "mac", cfg.mac, "interval", cfg.interval,
		"secure", cfg.secure, "root", cfg.root)
	a.loop(ctx, hup)
	return 0
}

// parseConfig reads the flags, then fills what they left unset from the
// kernel command line, and checks the result.
func parseConfig(args []string, stderr io.Writer, cmdline func() string) (*config, error) {
	cfg := &config{}
	fs := cfg.flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := cfg.fromCmdline(set, cmdline); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// flagSet returns the command's flags, each set into cfg.
func (cfg *config) flagSet(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gitboot-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.server, "server", "", "gitboot server base URL, e.g. http://10.99.0.1:9873 (default: gitboot.server= on the kernel command line)")
	fs.StringVar(&cfg.agentURL, "agent-url", "", "the server's HTTPS base URL, e.g. https://10.99.0.1:9874 (default: gitboot.agent= on the kernel command line, else --server's host at port 9874)")
	fs.StringVar(&cfg.caFile, "ca", "", "the CA certificate to pin (default: ROOT/"+caFile+")")
	fs.StringVar(&cfg.keyFile, "overlay-key", "", "the public key runtime overlays must be signed with (default: ROOT/"+overlayKeyFile+")")
	fs.StringVar(&cfg.mac, "mac", "", "this node's boot MAC address (default: gitboot.mac= on the kernel command line)")
	fs.DurationVar(&cfg.interval, "interval", 0, "how often to fetch the runtime overlay, ±10 % (default: gitboot.interval= on the kernel command line, else 60s)")
	fs.BoolVar(&cfg.secure, "secure", false, "connect from a source port < 1024 (the server's secure_runtime; needs root) (default: gitboot.secure=1 on the kernel command line)")
	fs.StringVar(&cfg.root, "root", "/", "directory the overlay is installed under")
	fs.BoolVar(&cfg.once, "once", false, "fetch and apply once, then exit: 0 applied or unchanged, 1 failed")
	fs.StringVar(&cfg.from, "from", "", "with --once: apply the runtime overlay in this file (iPXE put it into the initramfs) instead of fetching it, then remove the file")
	fs.BoolVar(&cfg.debug, "debug", false, "log every fetch, also unchanged ones")
	fs.StringVar(&cfg.assetKey, "asset-key-file", dmiAssetTag, "in secure mode, send the node's asset key read from this file (the DMI chassis asset tag, as Warewulf does) when it has one")
	fs.BoolVar(&cfg.noPostApply, "no-post-apply", false, "do not run overlays' post_apply commands after their files changed (log them only)")
	fs.StringVar(&cfg.initFailed, "report-init-failed", "", "report to the server that this node's init could not be executed, with this reason (stage INIT_FAILED), and exit: 0 recorded, 1 not (gitboot's /init runs it)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gitboot-agent [--server URL] [--agent-url https://HOST:PORT] [--mac MAC] [--interval 60s] [--secure] [--root DIR] [--once [--from FILE]] [--no-post-apply]")
		fs.PrintDefaults()
	}
	return fs
}

// fromCmdline fills the settings the flags left unset (not in set) from
// the gitboot.* words of the kernel command line; cmdline is read only
// when one is unset.
func (cfg *config) fromCmdline(set map[string]bool, cmdline func() string) error {
	if set["server"] && set["mac"] && set["interval"] && set["secure"] && set["agent-url"] {
		return nil
	}
	kv := parseCmdline(cmdline())
	if !set["server"] {
		cfg.server = kv["gitboot.server"]
	}
	if !set["agent-url"] {
		cfg.agentURL = kv["gitboot.agent"]
	}
	if !set["mac"] {
		cfg.mac = kv["gitboot.mac"]
	}
	if v, ok := kv["gitboot.interval"]; ok && !set["interval"] {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("gitboot.interval=%s on the kernel command line: %w", v, err)
		}
		cfg.interval = d
	}
	if v, ok := kv["gitboot.secure"]; ok && !set["secure"] {
		cfg.secure = v == "" || v == "1" || v == "true" || v == "yes"
	}
	return nil
}

// check applies the defaults, checks every setting and puts the server
// URL, MAC and trust files in their canonical forms.
func (cfg *config) check() error {
	if cfg.interval == 0 {
		cfg.interval = defaultInterval
	}
	if cfg.interval < minInterval {
		return fmt.Errorf("interval %v: at least %v", cfg.interval, minInterval)
	}
	if cfg.server == "" {
		return errors.New("no server: give --server URL (or boot with gitboot.server= on the kernel command line)")
	}
	u, err := url.Parse(cfg.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--server %q: not a server URL; want http://HOST[:PORT], e.g. http://10.99.0.1:9873", cfg.server)
	}
	cfg.server = strings.TrimSuffix(cfg.server, "/")
	if cfg.agentURL, err = agentBase(cfg.agentURL, cfg.server); err != nil {
		return err
	}
	if cfg.mac == "" {
		return errors.New("no MAC: give --mac MAC (or boot with gitboot.mac= on the kernel command line)")
	}
	hw, err := net.ParseMAC(cfg.mac)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("--mac %q: not a MAC address like 52:54:00:00:00:01", cfg.mac)
	}
	cfg.mac = hw.String()
	if cfg.root == "" {
		return errors.New("--root: empty")
	}
	if cfg.from != "" && !cfg.once {
		return errors.New("--from FILE applies one file: give --once too")
	}
	cfg.caFile = trustPath(cfg.caFile, cfg.root, caFile)
	cfg.keyFile = trustPath(cfg.keyFile, cfg.root, overlayKeyFile)
	return nil
}

// parseCmdline returns the key=value words of a kernel command line (a
// word without "=" has the value "").
func parseCmdline(s string) map[string]string {
	kv := map[string]string{}
	for _, w := range strings.Fields(s) {
		k, v, _ := strings.Cut(w, "=")
		kv[k] = strings.Trim(v, `"`)
	}
	return kv
}

// agent fetches and applies one node's runtime overlay.
type agent struct {
	cfg    *config
	log    *slog.Logger
	client *http.Client
	apply  *applier
	url    string
	trust  *trust
	etag   string // of the overlay applied last
	key    string // asset key sent in secure mode ("" none)
	// pending are the overlays whose files changed in applies that failed
	// part way: their post_apply runs after the next full apply.
	pending map[string]bool
}

// newAgent makes the agent; it fails without the CA to pin (unless
// --from) or the overlay key.
func newAgent(cfg *config, log *slog.Logger) (*agent, error) {
	tr, err := loadTrust(cfg, cfg.from == "")
	if err != nil {
		return nil, err
	}
	a := &agent{cfg: cfg, log: log, apply: newApplier(cfg.root, log), url: cfg.agentURL + "/runtime/" + cfg.mac, trust: tr}
	// Without secure_runtime the iPXE script also loads the runtime
	// overlay as an initrd: the kernel unpacked it before the agent ran.
	// (--from: iPXE put it into the initramfs as a file instead.)
	a.apply.bootInitrd = !cfg.secure && cfg.from == ""
	if tr.roots != nil {
		a.client = newClient(cfg.secure, tr.roots)
	}
	if cfg.secure {
		a.key = readAssetKey(cfg.assetKey)
	}
	a.etag = a.apply.readManifest().ETag
	return a, nil
}

// reconcileOnce fetches the overlay and applies it when it changed.
func (a *agent) reconcileOnce(ctx context.Context) error {
	data, etag, sig, err := fetch(ctx, a.client, a.url, a.etag, a.key)
	if errors.Is(err, errNotModified) {
		a.log.Debug("runtime overlay unchanged", "etag", a.etag)
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetching %s: %w", a.url, err)
	}
	if err := a.checkSignature(data, sig); err != nil {
		a.log.Error("runtime overlay refused: bad signature; nothing of it was applied, the last good state stays", "etag", etag, "url", a.url, "err", err)
		return err
	}
	ents, err := readOverlay(bytes.NewReader(data))
	data = nil
	if err == nil {
		var st applyStats
		prev := a.apply.overlaysOnDisk()
		st, err = a.apply.apply(ents, etag)
		next := overlaysIn(ents, a.log)
		for _, o := range touchedOverlays(st.Changed, prev, next) {
			if a.pending == nil {
				a.pending = map[string]bool{}
			}
			a.pending[o] = true
		}
		if err == nil {
			a.etag = etag
			level := slog.LevelInfo
			if st.Written+st.Removed+st.Restored+st.Created == 0 {
				level = slog.LevelDebug // a new ETag, the same files
			}
			a.log.Log(ctx, level, "runtime overlay applied", "etag", etag, "written", st.Written, "unchanged", st.Unchanged,
				"removed", st.Removed, "restored", st.Restored, "dirs_created", st.Created)
			if len(a.pending) > 0 {
				a.runPostApply(ctx, next, a.pending)
				a.pending = nil
			}
		} else if !isRefusal(err) {
			a.etag = "" // part way: fetch it whole again
		}
	}
	ents = nil
	debug.FreeOSMemory() // the overlay was in memory: give it back while idle
	if err != nil {
		if r := (*refusal)(nil); errors.As(err, &r) {
			a.log.Error("runtime overlay refused; nothing of it was applied", "etag", etag, "entry", r.name, "why", r.why)
		}
		return err
	}
	return nil
}

func isRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// once is --once: one fetch and apply.
func (a *agent) once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	return a.reconcileOnce(ctx)
}

// loop fetches every interval (±10 %), sooner on SIGHUP, and retries a
// failure with backoff (2 s, doubling, at most the interval).
func (a *agent) loop(ctx context.Context, hup <-chan os.Signal) {
	failures := 0
	for {
		if err := a.once(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if isRefusal(err) {
				failures = 0 // only a new overlay helps: ask again at the interval
			} else {
				failures++
				a.log.Warn("runtime overlay not applied; retrying", "err", err, "failures", failures)
			}
		} else {
			failures = 0
		}
		t := time.NewTimer(nextDelay(a.cfg.interval, failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-hup:
			t.Stop()
			a.log.Info("SIGHUP: fetching now")
		case <-t.C:
		}
	}
}

// nextDelay is the wait before the next fetch: the interval ±10 %, or
// after failures a backoff of 2 s doubling per failure, capped by it.
func nextDelay(interval time.Duration, failures int) time.Duration {
	d := interval
	if failures > 0 {
		b := firstRetry << min(failures-1, 20)
		d = min(b, interval)
	}
	return jitter(d)
}

// jitter spreads d by ±10 %, so nodes booted together do not fetch
// together.
func jitter(d time.Duration) time.Duration {
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span+1))
}
