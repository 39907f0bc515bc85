package tlsca

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadCreatesThenKeeps(t *testing.T) {
	dir := t.TempDir()
	b, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.1", "head.cluster"}})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Issued {
		t.Error("first Load: Issued false")
	}
	for name, want := range map[string]os.FileMode{CAKeyFile: 0o600, ServerKeyFile: 0o600, OverlayKeyFile: 0o600, CACertFile: 0o644, ServerCertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", name, fi.Mode().Perm(), want)
		}
	}
	again, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.1", "head.cluster"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.Issued || !bytes.Equal(again.CAPEM, b.CAPEM) || !bytes.Equal(again.OverlayPub, b.OverlayPub) ||
		!bytes.Equal(again.Cert.Certificate[0], b.Cert.Certificate[0]) {
		t.Error("second Load changed the CA, the overlay key or the certificate")
	}
	// A new address: a new server certificate from the same CA.
	moved, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if !moved.Issued || !bytes.Equal(moved.CAPEM, b.CAPEM) {
		t.Errorf("new address: issued %v, same CA %v; want a new certificate from the same CA", moved.Issued, bytes.Equal(moved.CAPEM, b.CAPEM))
	}
	leaf, _ := x509.ParseCertificate(moved.Cert.Certificate[0])
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "127.0.0.2" {
		t.Errorf("IP SANs %v, want [127.0.0.2]", leaf.IPAddresses)
	}
	// Near its end: reissued.
	late, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.2"}, Now: func() time.Time { return time.Now().Add(ServerLifetime - RenewBefore/2) }})
	if err != nil {
		t.Fatal(err)
	}
	if !late.Issued {
		t.Error("a certificate within RenewBefore of its end was kept")
	}
}

func TestLoadRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Dir, CAKeyFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.1"}}); err == nil {
		t.Fatal("a damaged CA key was accepted (or replaced)")
	}
	os.Remove(filepath.Join(dir, Dir, CAKeyFile))
	if _, err := Load(Options{StateDir: dir, Hosts: []string{"127.0.0.1"}}); err == nil {
		t.Fatal("a CA certificate without its key: a new CA was made silently")
	}
}

// TestHandshake: a client that pins the bundle's CA connects; one that
// pins another CA, or dials a name the certificate lacks, is refused.
func TestHandshake(t *testing.T) {
	b, err := Load(Options{StateDir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Load(Options{StateDir: t.TempDir(), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", b.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); io.WriteString(c, "hi"); c.Close() }()
		}
	}()
	dial := func(pem []byte, name string) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(b.CAPEM, "127.0.0.1"); err != nil {
		t.Errorf("pinned CA: %v", err)
	}
	if err := dial(other.CAPEM, "127.0.0.1"); err == nil {
		t.Error("another CA was accepted")
	}
	if err := dial(b.CAPEM, "10.0.0.1"); err == nil {
		t.Error("a name the certificate lacks was accepted")
	}
}

func TestExternalCert(t *testing.T) {
	// An operator's certificate: made here by another state directory's CA.
	src := t.TempDir()
	made, err := Load(Options{StateDir: src, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(src, Dir, ServerCertFile), filepath.Join(src, Dir, ServerKeyFile)
	chain, _ := os.ReadFile(cert)
	ca, _ := os.ReadFile(filepath.Join(src, Dir, CACertFile))
	full := filepath.Join(t.TempDir(), "chain.pem")
	os.WriteFile(full, append(chain, ca...), 0o644)
	dir := t.TempDir()
	b, err := Load(Options{StateDir: dir, CertFile: full, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.CAPEM, made.CAPEM) {
		t.Error("the pin is not the chain's last certificate")
	}
	if _, err := os.Stat(filepath.Join(dir, Dir, CACertFile)); err == nil {
		t.Error("a CA was made although an operator's certificate was given")
	}
	if _, err := Load(Options{StateDir: dir, CertFile: full}); err == nil {
		t.Error("--tls-cert without --tls-key accepted")
	}
}

// TestServerConfigFor: Load without hosts makes the CA and the key only;
// the certificate comes when the address is known, and again for a new
// one.
func TestServerConfigFor(t *testing.T) {
	dir := t.TempDir()
	b, err := Load(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.CAPEM) == 0 || b.OverlayKey == nil || len(b.Cert.Certificate) != 0 {
		t.Fatalf("Load without hosts: CA %d bytes, key %v, %d certificates", len(b.CAPEM), b.OverlayKey != nil, len(b.Cert.Certificate))
	}
	tc, err := b.ServerConfigFor([]string{"10.99.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err := leaf.VerifyHostname("10.99.0.1"); err != nil || !b.Issued {
		t.Errorf("certificate for 10.99.0.1: %v (issued %v)", err, b.Issued)
	}
	if _, err := b.ServerConfigFor([]string{"10.99.0.1"}); err != nil || b.Issued {
		t.Errorf("the same address again: %v, issued %v", err, b.Issued)
	}
	// An operator's certificate that does not name the address.
	ext, err := Load(Options{StateDir: t.TempDir(), CertFile: filepath.Join(dir, Dir, ServerCertFile), KeyFile: filepath.Join(dir, Dir, ServerKeyFile)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ext.ServerConfigFor([]string{"10.99.0.2"}); err == nil {
		t.Error("--tls-cert without the server's address accepted")
	}
}
