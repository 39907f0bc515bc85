package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// testKey signs the test servers' overlays; testCertPEM is httptest's TLS
// certificate (the same for every httptest TLS server), pinned as the CA.
var (
	testPub, testKey = func() (ed25519.PublicKey, ed25519.PrivateKey) {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			panic(err)
		}
		return pub, key
	}()
	testCertOnce sync.Once
	testCertPEM  []byte
)

// httptestCA returns httptest's TLS certificate as PEM.
func httptestCA() []byte {
	testCertOnce.Do(func() {
		s := httptest.NewTLSServer(http.NotFoundHandler())
		testCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
		s.Close()
	})
	return testCertPEM
}

// trustFlags writes the pinned CA (httptest's) and the overlay key into a
// temporary directory and returns the flags that name them.
func trustFlags(t testing.TB) []string {
	d := t.TempDir()
	ca, key := filepath.Join(d, "ca.pem"), filepath.Join(d, "overlay.pub")
	if err := os.WriteFile(ca, httptestCA(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, overlaysig.MarshalPublicKey(testPub), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--ca", ca, "--overlay-key", key}
}

// signFor is the signature the server sends for data as mac's overlay.
func signFor(mac string, data []byte) string {
	sum := sha256.Sum256(data)
	return overlaysig.Sign(testKey, mac, hex.EncodeToString(sum[:]))
}
