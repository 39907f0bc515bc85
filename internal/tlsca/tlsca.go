// Package tlsca keeps the key material a gitboot server needs to be
// trusted by its nodes' agents: a certificate authority of its own, the
// server certificate the agent's HTTPS listener presents, and the ed25519
// key runtime overlays are signed with (internal/overlaysig).
//
// Everything lives in a "tls" directory under the server's state
// directory, created at first start (keys 0600, written atomically):
//
//	ca.pem ca.key           the CA (ECDSA P-256, 10 years); agents pin ca.pem
//	server.pem server.key   the server certificate, issued by the CA for the
//	                        server's address (IP SAN; DNS SAN for a name);
//	                        reissued when the address changes or it nears expiry
//	overlay.key             the overlay signing key (ed25519, PKCS #8)
//
// Replacing ca.pem or overlay.key changes what every system overlay carries
// (reconcile/artifact puts Bundle.CAPEM and Bundle.OverlayPub into it), so
// nodes need a rebuild and a reboot to trust the new ones. With an
// operator's own certificate (Options.CertFile, KeyFile) no CA is made: the
// agents pin the last certificate of that file (the issuer nearest the
// root in a chain, or the certificate itself).
//
// Imported by cmd/gitboot (serve) only.
package tlsca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/overlaysig"
)

// Dir is the directory under the state directory that holds the files.
const Dir = "tls"

// File names in Dir.
const (
	CACertFile     = "ca.pem"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.pem"
	ServerKeyFile  = "server.key"
	OverlayKeyFile = "overlay.key"
)

// Lifetimes of what New creates, and how close to its end a server
// certificate is reissued.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 2 * 365 * 24 * time.Hour
	RenewBefore    = 30 * 24 * time.Hour
)

// Options says where the files are and what the certificate names.
type Options struct {
	// StateDir is the server's state directory; the files are in its
	// Dir subdirectory.
	StateDir string
	// Hosts are the addresses (IP SAN) and names (DNS SAN) the server
	// certificate must carry: the server block's address at least. None:
	// no server certificate yet (ServerConfigFor issues one later).
	Hosts []string
	// CertFile and KeyFile, both or neither, are an operator's own
	// certificate (PEM, the chain after the leaf) and its key (PEM):
	// served instead of one issued by the generated CA, which is then
	// neither made nor used.
	CertFile, KeyFile string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Bundle is what the server uses and what its nodes get.
type Bundle struct {
	// CAPEM is what agents pin (every system overlay carries it).
	CAPEM []byte
	// Cert is the server certificate with its key, for the HTTPS listener.
	Cert tls.Certificate
	// OverlayKey signs runtime overlays.
	OverlayKey ed25519.PrivateKey
	// OverlayPub is OverlayKey's public half as PEM (every system overlay
	// carries it).
	OverlayPub []byte
	// Issued is true when the last Load or ServerConfigFor wrote a new
	// server certificate.
	Issued bool

	dir      string // the Dir under the state directory
	ca       *x509.Certificate
	caKey    crypto.Signer // nil with an operator's certificate
	now      func() time.Time
	external bool
}

// ServerConfig returns the TLS configuration of the agents' HTTPS
// listener: TLS 1.2 at least, the bundle's certificate.
func (b *Bundle) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{b.Cert}}
}

// ServerConfigFor is ServerConfig with a certificate for hosts: the one
// in the state directory when it fits, else one issued now by the CA. An
// operator's certificate (Options.CertFile) that does not name every host
// is an error.
func (b *Bundle) ServerConfigFor(hosts []string) (*tls.Config, error) {
	if b.external {
		leaf, err := x509.ParseCertificate(b.Cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("tls: --tls-cert: %w", err)
		}
		for _, h := range hosts {
			if err := leaf.VerifyHostname(h); err != nil {
				return nil, fmt.Errorf("tls: --tls-cert does not name the server's address %s: %w", h, err)
			}
		}
		return b.ServerConfig(), nil
	}
	b.Issued = false
	if err := loadOrIssueServer(b, b.dir, b.ca, b.caKey, hosts, b.now()); err != nil {
		return nil, err
	}
	return b.ServerConfig(), nil
}

// Load returns the bundle, creating what is missing: the CA (unless
// Options.CertFile), a server certificate for Options.Hosts (reissued when
// it lacks one of them, was issued by another CA or expires within
// RenewBefore), the overlay key. A file that exists but cannot be read or
// parsed is an error naming it, never silently replaced.
func Load(o Options) (*Bundle, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StateDir == "" {
		return nil, errors.New("tls: no state directory")
	}
	dir := filepath.Join(o.StateDir, Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	b := &Bundle{dir: dir, now: o.Now}
	var err error
	if b.OverlayKey, err = loadOrCreateOverlayKey(filepath.Join(dir, OverlayKeyFile)); err != nil {
		return nil, err
	}
	b.OverlayPub = overlaysig.MarshalPublicKey(b.OverlayKey.Public().(ed25519.PublicKey))
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("tls: give --tls-cert and --tls-key together")
	}
	if o.CertFile != "" {
		b.external = true
		if err := loadExternal(b, o.CertFile, o.KeyFile); err != nil {
			return nil, err
		}
		if len(o.Hosts) > 0 {
			if _, err := b.ServerConfigFor(o.Hosts); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	if b.ca, b.caKey, err = loadOrCreateCA(dir, o.Now()); err != nil {
		return nil, err
	}
	b.CAPEM = pemCert(b.ca.Raw)
	if len(o.Hosts) > 0 {
		if err := loadOrIssueServer(b, dir, b.ca, b.caKey, o.Hosts, o.Now()); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// loadExternal takes an operator's certificate and key; the pin is the
// file's last certificate.
func loadExternal(b *Bundle, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("tls: --tls-cert %s --tls-key %s: %w", certFile, keyFile, err)
	}
	b.Cert = cert
	b.CAPEM = pemCert(cert.Certificate[len(cert.Certificate)-1])
	return nil
}

func loadOrCreateOverlayKey(path string) (ed25519.PrivateKey, error) {
	k, err := readKey(path)
	if err == nil {
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("tls: %s: a %T, not an ed25519 key", path, k)
		}
		return ek, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: overlay key: %w", err)
	}
	if err := writeKey(path, ek); err != nil {
		return nil, err
	}
	return ek, nil
}

// loadOrCreateCA reads the CA, or makes one when neither of its files
// exists; one without the other is an error.
func loadOrCreateCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	if errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist) {
		return createCA(certPath, keyPath, now)
	}
	cert, err := readCert(certPath)
	if err != nil {
		return nil, nil, err
	}
	k, err := readKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, nil, fmt.Errorf("tls: %s is not the key of %s", keyPath, certPath)
	}
	return cert, signer, nil
}

func createCA(certPath, keyPath string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: CA key: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gitboot CA " + host, Organization: []string{"gitboot"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: CA certificate: %w", err)
	}
	// The key first: a CA certificate without its key is refused at the
	// next start, a key without its certificate is too.
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := atomicfile.WriteFile(certPath, pemCert(der), 0o644); err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// loadOrIssueServer sets b.Cert from server.pem/server.key, issuing new
// ones when they are missing or do not fit (see Load).
func loadOrIssueServer(b *Bundle, dir string, ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) error {
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf, _ := x509.ParseCertificate(cert.Certificate[0])
		if leaf != nil && fits(leaf, ca, hosts, now) {
			b.Cert = cert
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tls: %s, %s: %w (remove both to have them issued again)", certPath, keyPath, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "gitboot server", Organization: []string{"gitboot"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(tmpl.IPAddresses)+len(tmpl.DNSNames) == 0 {
		return errors.New("tls: no address to issue the server certificate for")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("tls: server certificate: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(certPath, pemCert(der), 0o644); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	b.Cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	b.Issued = true
	return nil
}

// fits reports whether leaf was issued by ca, is valid for a while yet,
// and names every host.
func fits(leaf, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil || now.Before(leaf.NotBefore) || now.Add(RenewBefore).After(leaf.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			if !slices.ContainsFunc(leaf.IPAddresses, func(x net.IP) bool { return x.Equal(net.IP(ip.AsSlice())) }) {
				return false
			}
		} else if h != "" && !slices.Contains(leaf.DNSNames, h) {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("tls: %s: no PEM CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", path, err)
	}
	return c, nil
}

// readKey reads a PKCS #8 PEM private key; a missing file is
// fs.ErrNotExist (wrapped).
func readKey(path string) (crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("tls: %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", path, err)
	}
	return k, nil
}

// writeKey writes key as PKCS #8 PEM, mode 0600, atomically.
func writeKey(path string, key crypto.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}
