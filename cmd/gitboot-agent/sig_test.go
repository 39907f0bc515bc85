package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/tlsca"
)

// TestRefusesBadSignature: an overlay without a signature, with one byte
// flipped, signed for another node or with another key is refused whole,
// and the last good state (files and ETag) stays; the good one is then
// applied.
func TestRefusesBadSignature(t *testing.T) {
	root := t.TempDir()
	good := overlayOf(t, file("etc/motd", "good\n", 0o644))
	s := newOverlayServer(t, good, `"sha256:1"`)
	a := testAgent(t, s.srv.URL, root, false)
	if err := a.reconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	evil := overlayOf(t, file("etc/motd", "evil\n", 0o644), file("etc/cron.d/x", "* * * * * root sh\n", 0o644))
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	for _, tc := range []struct {
		name    string
		archive []byte
		sign    func([]byte) string
		want    string
	}{
		{"unsigned", evil, func([]byte) string { return "" }, "not signed"},
		{"signature stripped to junk", evil, func([]byte) string { return "ed25519:AAAA" }, "malformed"},
		{"byte flipped", flipped, func([]byte) string { return signFor("52:54:00:99:00:01", good) }, "does not match"},
		{"another node's", evil, func(d []byte) string { return signFor("52:54:00:99:00:02", d) }, "does not match"},
	} {
		s.mu.Lock()
		s.archive, s.etag, s.sign = tc.archive, `"sha256:2"`, tc.sign
		s.mu.Unlock()
		err := a.reconcileOnce(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !isRefusal(err) {
			t.Errorf("%s: err %v, want a refusal saying %q", tc.name, err, tc.want)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(b) != "good\n" || exists(filepath.Join(root, "etc/cron.d/x")) {
			t.Fatalf("%s: the refused overlay was applied (motd %q)", tc.name, b)
		}
		if a.etag != `"sha256:1"` {
			t.Errorf("%s: ETag %s after a refusal, want the last good one", tc.name, a.etag)
		}
	}
	s.mu.Lock()
	s.archive, s.sign = evil, nil
	s.mu.Unlock()
	if err := a.reconcileOnce(context.Background()); err != nil {
		t.Fatalf("a well-signed overlay: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(b) != "evil\n" {
		t.Errorf("the well-signed overlay was not applied: motd %q", b)
	}
}

// TestPinnedCA: the agent refuses a server whose certificate another CA
// issued (a neighbour answering for the server's address), refuses plain
// HTTP, and refuses to start without the CA or the key.
func TestPinnedCA(t *testing.T) {
	s := newOverlayServer(t, overlayOf(t, file("f", "x", 0o644)), `"e"`)
	other, err := tlsca.Load(tlsca.Options{StateDir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	flags := trustFlags(t)
	if err := os.WriteFile(flags[1], other.CAPEM, 0o644); err != nil { // --ca FILE: another CA
		t.Fatal(err)
	}
	root := t.TempDir()
	var stderr bytes.Buffer
	code := run(append([]string{"--server", s.srv.URL, "--mac", "52:54:00:99:00:01", "--root", root, "--once"}, flags...), &stderr, func() string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), "certificate") || exists(filepath.Join(root, "f")) {
		t.Errorf("another CA's server: exit %d, log %s", code, stderr.String())
	}
	if len(s.requests) != 0 {
		t.Errorf("the request reached the server through a failed handshake: %d requests", len(s.requests))
	}

	for _, args := range [][]string{
		{"--server", "http://127.0.0.1:1", "--agent-url", "http://127.0.0.1:1"},
		{"--server", "http://127.0.0.1:1", "--agent-url", "ftp://127.0.0.1:1"},
	} {
		_, err := parseConfig(append(args, "--mac", "52:54:00:99:00:01"), &stderr, func() string { return "" })
		if err == nil || !strings.Contains(err.Error(), "HTTPS only") {
			t.Errorf("%q: %v, want HTTPS only", args, err)
		}
	}
	// The plain boot URL names the host; the kernel command line's
	// gitboot.agent= names the port; a flag wins.
	cfg, err := parseConfig([]string{"--server", "http://10.99.0.1:9873", "--mac", "52:54:00:99:00:01"}, &stderr, func() string { return "" })
	if err != nil || cfg.agentURL != "https://10.99.0.1:9874" {
		t.Errorf("derived agent URL %q (%v)", cfg.agentURL, err)
	}
	cfg, err = parseConfig([]string{"--server", "http://10.99.0.1:9873", "--mac", "52:54:00:99:00:01"}, &stderr, func() string { return "gitboot.agent=https://10.99.0.1:8443" })
	if err != nil || cfg.agentURL != "https://10.99.0.1:8443" {
		t.Errorf("agent URL from the command line %q (%v)", cfg.agentURL, err)
	}
	if _, err := newClient(false, nil).Get("http://127.0.0.1:1/"); err == nil || !strings.Contains(err.Error(), "HTTPS only") {
		t.Errorf("the client sent plain HTTP: %v", err)
	}

	stderr.Reset()
	code = run([]string{"--server", s.srv.URL, "--mac", "52:54:00:99:00:01", "--root", t.TempDir(), "--once"}, &stderr, func() string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), "usr/lib/gitboot/overlay.pub") {
		t.Errorf("without the trust files: exit %d, log %s", code, stderr.String())
	}
}

// TestOnceFromBootFileUnsigned: an initramfs overlay without its .sig, or
// with a .sig of other bytes, is not applied.
func TestOnceFromBootFileUnsigned(t *testing.T) {
	root := t.TempDir()
	boot := filepath.Join(t.TempDir(), "runtime.img.gz")
	data := overlayOf(t, file("etc/new", "n", 0o644))
	args := append([]string{"--server", "http://127.0.0.1:1", "--mac", "52:54:00:99:00:01", "--root", root, "--once", "--from", boot}, trustFlags(t)...)
	for name, sig := range map[string]string{
		"no .sig":     "",
		"other bytes": signFor("52:54:00:99:00:01", overlayOf(t, file("etc/new", "m", 0o644))),
	} {
		os.WriteFile(boot, data, 0o600)
		if sig != "" {
			os.WriteFile(boot+".sig", []byte(sig), 0o644)
		}
		var stderr bytes.Buffer
		if code := run(args, &stderr, func() string { return "" }); code != 1 || !strings.Contains(stderr.String(), "bad signature") {
			t.Errorf("%s: exit %d: %s", name, code, stderr.String())
		}
		if exists(filepath.Join(root, "etc/new")) {
			t.Fatalf("%s: applied", name)
		}
		if exists(boot + ".sig") {
			t.Errorf("%s: the .sig was left", name)
		}
	}
}
