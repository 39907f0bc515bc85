package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// overlayServer serves /runtime/{mac} the way gitboot does: the digest as
// a quoted ETag, 304 on a matching If-None-Match.
type overlayServer struct {
	mu       sync.Mutex
	archive  []byte
	etag     string
	requests []*http.Request
	srv      *httptest.Server
	// sign, when set, replaces the signature header the server sends
	// (signFor by default).
	sign func(data []byte) string
}

func newOverlayServer(t *testing.T, archive []byte, etag string) *overlayServer {
	s := &overlayServer{archive: archive, etag: etag}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r)
		if r.URL.Path != "/runtime/52:54:00:99:00:01" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", s.etag)
		if s.sign != nil {
			w.Header().Set(overlaysig.Header, s.sign(s.archive))
		} else {
			w.Header().Set(overlaysig.Header, signFor("52:54:00:99:00:01", s.archive))
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.archive))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *overlayServer) set(archive []byte, etag string) {
	s.mu.Lock()
	s.archive, s.etag = archive, etag
	s.mu.Unlock()
}

func (s *overlayServer) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

func testAgent(t *testing.T, server, root string, secure bool) *agent {
	t.Helper()
	args := append([]string{"--server", server, "--mac", "52-54-00-99-00-01", "--root", root}, trustFlags(t)...)
	cfg, err := parseConfig(args, os.Stderr, func() string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.secure = secure
	a, err := newAgent(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestFetchApply: the first fetch installs; unchanged, the agent sends
// If-None-Match, gets 304 and touches nothing; a restarted agent sends the
// ETag from its manifest; a new overlay is applied; 403/404 are errors
// that say why.
func TestFetchApply(t *testing.T) {
	root := t.TempDir()
	s := newOverlayServer(t, overlayOf(t, dir("etc", 0o755), file("etc/motd", "one\n", 0o644)), `"sha256:1"`)
	a := testAgent(t, s.srv.URL, root, false)
	if err := a.reconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(root, "etc/motd")); got != "one\n" {
		t.Fatalf("motd %q", got)
	}
	if h := s.last().Header.Get("If-None-Match"); h != "" {
		t.Errorf("first fetch sent If-None-Match %q", h)
	}
	before := snapshot(t, root)
	if err := a.reconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := s.last().Header.Get("If-None-Match"); h != `"sha256:1"` {
		t.Errorf("second fetch sent If-None-Match %q", h)
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("a 304 changed files:\n%s", d)
	}
	// Restarted: the ETag comes from the manifest.
	a = testAgent(t, s.srv.URL, root, false)
	if err := a.reconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := s.last().Header.Get("If-None-Match"); h != `"sha256:1"` {
		t.Errorf("a restarted agent sent If-None-Match %q", h)
	}
	s.set(overlayOf(t, dir("etc", 0o755), file("etc/motd", "two\n", 0o644)), `"sha256:2"`)
	if err := a.reconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(root, "etc/motd")); got != "two\n" {
		t.Errorf("motd after a change %q", got)
	}

	// A refused overlay: nothing changes, and the next fetch asks again
	// with the ETag of what is applied.
	before = snapshot(t, root)
	s.set(overlayOf(t, file("etc/motd", "three\n", 0o644), file("../x", "", 0o644)), `"sha256:3"`)
	if err := a.reconcileOnce(context.Background()); err == nil {
		t.Error("a hostile overlay was not an error")
	}
	if d := diffSnapshots(before, snapshot(t, root)); d != "" {
		t.Errorf("a refused overlay changed files:\n%s", d)
	}
	if a.etag != `"sha256:2"` {
		t.Errorf("etag after a refusal %q", a.etag)
	}

	bad := testAgent(t, s.srv.URL, t.TempDir(), false)
	bad.url = s.srv.URL + "/runtime/52:54:00:00:00:00"
	if err := bad.reconcileOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "does not know this MAC") {
		t.Errorf("404: %v", err)
	}
}

// TestSecureSourcePort: --secure connects from a port < 1024 (root only).
func TestSecureSourcePort(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binding a port < 1024 needs root")
	}
	s := newOverlayServer(t, overlayOf(t, file("f", "x", 0o644)), `"e"`)
	// Take a few privileged ports so some tries find them busy.
	for p := lowPort; p < lowPort+8; p++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			t.Cleanup(func() { l.Close() })
		}
	}
	for range 3 {
		a := testAgent(t, s.srv.URL, t.TempDir(), true)
		if err := a.reconcileOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(s.last().RemoteAddr)
		if n, _ := strconv.Atoi(port); n >= 1024 || n < lowPort {
			t.Errorf("secure fetch came from port %s", port)
		}
	}
}

func TestParseConfig(t *testing.T) {
	cmdline := "BOOT_IMAGE=x console=ttyS0 gitboot.node=n1 gitboot.server=http://10.99.0.1:9873 gitboot.mac=52:54:00:99:00:01 gitboot.interval=5s gitboot.secure=1"
	cfg, err := parseConfig(nil, os.Stderr, func() string { return cmdline })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.server != "http://10.99.0.1:9873" || cfg.mac != "52:54:00:99:00:01" || cfg.interval != 5*time.Second || !cfg.secure || cfg.root != "/" {
		t.Errorf("from the kernel command line: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"--server", "http://h:1/", "--interval", "2m", "--secure=false"}, os.Stderr, func() string { return cmdline })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.server != "http://h:1" || cfg.mac != "52:54:00:99:00:01" || cfg.interval != 2*time.Minute || cfg.secure {
		t.Errorf("flags over the kernel command line: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"--server", "http://h", "--mac", "52:54:00:99:00:01"}, os.Stderr, func() string { return "" })
	if err != nil || cfg.interval != defaultInterval {
		t.Errorf("default interval: %+v %v", cfg, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", "10.99.0.1:9873", "--mac", "52:54:00:99:00:01"}, "not a server URL"},
		{[]string{"--server", "ftp://h", "--mac", "52:54:00:99:00:01"}, "not a server URL"},
		{[]string{"--server", "http://", "--mac", "52:54:00:99:00:01"}, "not a server URL"},
		{[]string{"--mac", "52:54:00:99:00:01"}, "no server"},
		{[]string{"--server", "http://h"}, "no MAC"},
		{[]string{"--server", "http://h", "--mac", "nope"}, "not a MAC"},
		{[]string{"--server", "http://h", "--mac", "52:54:00:99:00:01", "--interval", "10ms"}, "at least"},
	} {
		_, err := parseConfig(c.args, os.Stderr, func() string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

// TestRunExitCodes: a bad server URL exits 2 with a message; --once exits
// 1 when the fetch fails and 0 when it applied.
func TestRunExitCodes(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"--server", "not a url", "--mac", "52:54:00:99:00:01"}, &stderr, func() string { return "" }); code != 2 ||
		!strings.Contains(stderr.String(), "not a server URL") {
		t.Errorf("bad URL: exit %d, %q", code, stderr.String())
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	stderr.Reset()
	if code := run([]string{"--server", "http://" + addr, "--mac", "52:54:00:99:00:01", "--root", t.TempDir(), "--once"}, &stderr, func() string { return "" }); code != 1 {
		t.Errorf("--once against nothing: exit %d\n%s", code, stderr.String())
	}
	s := newOverlayServer(t, overlayOf(t, file("f", "x", 0o644)), `"e"`)
	root := t.TempDir()
	stderr.Reset()
	if code := run(append([]string{"--server", s.srv.URL, "--mac", "52:54:00:99:00:01", "--root", root, "--once"}, trustFlags(t)...), &stderr, func() string { return "" }); code != 0 {
		t.Errorf("--once: exit %d\n%s", code, stderr.String())
	}
	if content(t, filepath.Join(root, "f")) != "x" {
		t.Error("--once did not apply")
	}
}

func TestNextDelay(t *testing.T) {
	for range 1000 {
		if d := nextDelay(60*time.Second, 0); d < 54*time.Second || d > 66*time.Second {
			t.Fatalf("interval delay %v outside ±10 %%", d)
		}
	}
	for f, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 10: 60 * time.Second, 100: 60 * time.Second} {
		if d := nextDelay(60*time.Second, f); d < want*9/10 || d > want*11/10 {
			t.Errorf("after %d failures: %v, want about %v", f, d, want)
		}
	}
}

// TestLoopSIGHUP: the loop fetches again at once on SIGHUP, long before
// the interval.
func TestLoopSIGHUP(t *testing.T) {
	s := newOverlayServer(t, overlayOf(t, file("f", "x", 0o644)), `"e"`)
	a := testAgent(t, s.srv.URL, t.TempDir(), false)
	a.cfg.interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { a.loop(ctx, hup); close(done) }()
	count := func() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.requests) }
	waitUntil(t, func() bool { return count() == 1 })
	hup <- os.Interrupt
	waitUntil(t, func() bool { return count() == 2 })
	cancel()
	<-done
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
