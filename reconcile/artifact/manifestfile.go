package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sync"
)

// readManifest returns the manifest named hexSum: the one kept since New,
// Load or GC (see Builder.manifests), or read now, its text checked
// against its name, and kept.
func (b *Builder) readManifest(hexSum string) (*Manifest, error) {
	if m := b.manifests[hexSum]; m != nil {
		return m, nil
	}
	m, err := b.decodeManifestFile(hexSum)
	if err != nil {
		return nil, err
	}
	b.keepManifest(hexSum, m)
	return m, nil
}

// decodeManifestFile reads and decodes the manifest named hexSum, its
// text checked against its name. It touches nothing of b but its paths:
// safe to call from several goroutines.
func (b *Builder) decodeManifestFile(hexSum string) (*Manifest, error) {
	data, err := os.ReadFile(b.manifestPath(hexSum))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != hexSum {
		return nil, fmt.Errorf("manifest %s is corrupt", hexSum)
	}
	m, err := decodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", hexSum, err)
	}
	return m, nil
}

// keepManifest keeps m, read from the manifest named hexSum, for
// readManifest to return (see Builder.manifests).
func (b *Builder) keepManifest(hexSum string, m *Manifest) {
	if b.manifests == nil {
		b.manifests = map[string]*Manifest{}
	}
	b.manifests[hexSum] = m
}

// readManifests reads the manifests named hexSums (readManifest for each,
// "" skipped), each file decoded on its own goroutine: a build's kept
// manifests are the two largest files a one-node apply reads. beside,
// when not nil, runs meanwhile. The results are in hexSums' order.
func (b *Builder) readManifests(hexSums []string, beside func()) ([]*Manifest, []error) {
	ms, errs := make([]*Manifest, len(hexSums)), make([]error, len(hexSums))
	var wg sync.WaitGroup
	if beside != nil {
		wg.Go(beside)
	}
	for i, h := range hexSums {
		if h == "" || slices.Index(hexSums, h) < i {
			continue // the same manifest twice: decoded once, below
		}
		if m := b.manifests[h]; m != nil {
			ms[i] = m
			continue
		}
		wg.Go(func() { ms[i], errs[i] = b.decodeManifestFile(h) })
	}
	wg.Wait()
	for i, h := range hexSums {
		if h == "" {
			continue
		}
		if j := slices.Index(hexSums, h); j < i {
			ms[i], errs[i] = ms[j], errs[j]
		}
		if ms[i] != nil {
			b.keepManifest(h, ms[i])
		}
	}
	return ms, errs
}
