package overlaysig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	data := []byte("a runtime overlay")
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	mac := "52:54:00:00:00:01"
	sig := Sign(key, mac, digest)
	if err := Verify(pub, mac, data, sig); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	flipped := append([]byte(nil), data...)
	flipped[3] ^= 1
	for name, err := range map[string]error{
		"flipped byte":   Verify(pub, mac, flipped, sig),
		"other node":     Verify(pub, "52:54:00:00:00:02", data, sig),
		"other key":      Verify(otherPub, mac, data, sig),
		"malformed":      Verify(pub, mac, data, "ed25519:AAAA"),
		"other scheme":   Verify(pub, mac, data, "rsa:xyz"),
		"truncated":      Verify(pub, mac, data, sig[:len(sig)-4]),
		"no key at hand": Verify(nil, mac, data, sig),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := Verify(pub, mac, data, ""); !errors.Is(err, ErrUnsigned) {
		t.Errorf("no signature: %v, want ErrUnsigned", err)
	}
	got, err := ParsePublicKey(MarshalPublicKey(pub))
	if err != nil || !got.Equal(pub) {
		t.Errorf("public key round trip: %v", err)
	}
	if _, err := ParsePublicKey([]byte("junk")); err == nil {
		t.Error("junk parsed as a public key")
	}
}
