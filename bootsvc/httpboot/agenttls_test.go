package httpboot

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/overlaysig"
	"github.com/gitboot/gitboot/internal/tlsca"
)

// agentEnv is newEnv plus the agents' HTTPS listener, with a CA and an
// overlay key of a fresh state directory.
type agentEnv struct {
	*testEnv
	tlsBase string // https://127.0.0.1:PORT
	bundle  *tlsca.Bundle
}

func newAgentEnv(t *testing.T) *agentEnv {
	t.Helper()
	b, err := tlsca.Load(tlsca.Options{StateDir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Config{OverlayKey: b.OverlayKey}, nil)
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.h.ServeAgentTLS(ctx, ln, b.ServerConfig()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeAgentTLS: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ServeAgentTLS did not return after cancel")
		}
	})
	return &agentEnv{testEnv: e, tlsBase: "https://" + ln.Addr().String(), bundle: b}
}

// pinned is a client that trusts only caPEM.
func pinned(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true, Proxy: nil}}
}

// TestAgentTLS: over the agents' HTTPS listener a client pinning the
// server's CA gets the signed runtime overlay (the signature checks with
// the public key, for this node and these bytes only) and reports
// INIT_FAILED; the boot routes are not there; a client pinning another CA
// fails the handshake.
func TestAgentTLS(t *testing.T) {
	e := newAgentEnv(t)
	const mac = "52:54:00:00:00:01"
	c := pinned(e.bundle.CAPEM)
	pub := e.bundle.OverlayKey.Public().(ed25519.PublicKey)

	resp, err := c.Get(e.tlsBase + "/runtime/" + mac)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	node, _ := e.h.Snapshot().NodeByMAC(mac)
	orig, _ := os.ReadFile(node.Artifacts.Runtime.Path)
	if resp.StatusCode != 200 || !bytes.Equal(body, orig) {
		t.Fatalf("GET /runtime over TLS: %d, %d bytes (want %d)", resp.StatusCode, len(body), len(orig))
	}
	sig := resp.Header.Get(overlaysig.Header)
	if err := overlaysig.Verify(pub, mac, body, sig); err != nil {
		t.Fatalf("the signature sent does not check: %v (%q)", err, sig)
	}
	if err := overlaysig.Verify(pub, "52:54:00:00:00:02", body, sig); err == nil {
		t.Error("c001's signature checks for c002")
	}
	if r, _ := e.store.Node("c001"); r.Stage != status.StageRuntimeOverlay {
		t.Errorf("stage after the TLS fetch: %s", r.Stage)
	}
	// The plain listener signs too (an agent may be handed the overlay
	// any way; it checks the signature).
	presp, err := http.Get(e.base + "/runtime/" + mac)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if presp.Header.Get(overlaysig.Header) != sig {
		t.Errorf("plain /runtime signature %q, want %q", presp.Header.Get(overlaysig.Header), sig)
	}

	resp, err = c.Post(e.tlsBase+"/init-failed/"+mac, "text/plain", strings.NewReader("no init"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r, _ := e.store.Node("c001"); resp.StatusCode != 200 || r.Error == nil || r.Error.Stage != status.StageInitFailed {
		t.Errorf("POST /init-failed over TLS: %d, record %+v", resp.StatusCode, r)
	}
	for _, path := range []string{"/ipxe/" + mac, "/kernel/" + mac, "/status", "/inventory", "/metrics", "/"} {
		resp, err := c.Get(e.tlsBase + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s on the agents' listener: %d, want 404", path, resp.StatusCode)
		}
	}

	other, err := tlsca.Load(tlsca.Options{StateDir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pinned(other.CAPEM).Get(e.tlsBase + "/runtime/" + mac); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client pinning another CA: %v, want a certificate error", err)
	}
	// Plain HTTP to the TLS port is no way in either.
	if resp, err := http.Get("http://" + strings.TrimPrefix(e.tlsBase, "https://") + "/runtime/" + mac); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Equal(b, orig) {
			t.Error("plain HTTP on the TLS port got the overlay")
		}
	}
}

// TestRuntimeInitrdSigned: with an overlay key, /runtime-initrd/ carries
// the signature as RuntimeInitrdFile+".sig" before the overlay file, and
// it checks against the overlay's bytes.
func TestRuntimeInitrdSigned(t *testing.T) {
	needTools(t, "cpio", "gzip")
	e := newAgentEnv(t)
	const mac = "52:54:00:00:00:01"
	code, body := get(t, e.base+"/runtime-initrd/"+mac)
	if code != 200 {
		t.Fatalf("GET: %d", code)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	unpack := exec.Command("cpio", "-i", "--quiet", "--no-absolute-filenames")
	unpack.Dir, unpack.Stdin = root, bytes.NewReader(raw)
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 2 {
		t.Fatalf("unpacked %v, want the overlay and its .sig", ents)
	}
	data, _ := os.ReadFile(filepath.Join(root, RuntimeInitrdFile))
	sig, _ := os.ReadFile(filepath.Join(root, RuntimeInitrdFile+overlaysig.FileSuffix))
	if err := overlaysig.Verify(e.bundle.OverlayKey.Public().(ed25519.PublicKey), mac, data, string(sig)); err != nil {
		t.Fatalf("the .sig does not check: %v", err)
	}
}
