package artifact

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/registrytest"
)

// useRegistryConfig sets the process's registry configuration for one
// test.
func useRegistryConfig(t *testing.T, c RegistryConfig) {
	prev := registryConfig.Load()
	SetRegistryConfig(c)
	t.Cleanup(func() { registryConfig.Store(prev) })
}

var rockyFiles = map[string]string{
	"boot/":                       "",
	"boot/vmlinuz-6.1.0-13-amd64": "kernel",
	"boot/config-6.1.0-13-amd64":  "CONFIG_RD_ZSTD=y\n",
	"etc/":                        "",
	"etc/os-release":              "NAME=rocky\n",
}

// TestRegistryImage: an image pulled from a registry (which requires
// basic auth, given by a docker config) by tag and by digest builds the
// image; the pulled image is cached by digest (a second image block
// naming the same digest downloads nothing) and GC drops it with the
// artifacts; a moved tag resolves to the new digest; a wrong pinned
// digest is a *RepoError; without credentials, or without the registry,
// the error is transient (not a *RepoError).
func TestRegistryImage(t *testing.T) {
	reg := registrytest.Start(t, "gitboot", "s3cret")
	useRegistryConfig(t, RegistryConfig{DockerConfig: reg.DockerConfig(t)})
	d1 := reg.Push(t, "hpc/rocky:9.4", rockyFiles)

	state := t.TempDir()
	b := newBuilder(t, state)
	tagged := &hclspec.Image{Name: "rocky", Source: "oci://" + reg.Host + "/hpc/rocky:9.4"}
	tc := &testCluster{images: []*hclspec.Image{tagged}, nodes: mkNodes(1, "rocky", nil, nil)}
	r := mustBuild(t, b, tc.build())
	info := r.Images["rocky"]
	if info.Kind != "registry" || info.Digest != d1 || info.KernelVersion != "6.1.0-13-amd64" || info.Compression != hclspec.CompressionZstd {
		t.Fatalf("image info %+v, want registry %s zstd", info, d1)
	}
	got := unpack(t, r.Nodes["n00000"].Image.Path)
	if b, err := os.ReadFile(filepath.Join(got, "etc/os-release")); err != nil || string(b) != "NAME=rocky\n" {
		t.Errorf("etc/os-release: %q %v", b, err)
	}
	if err := b.Commit(r); err != nil {
		t.Fatal(err)
	}
	pulls := reg.BlobGets.Load()
	if pulls == 0 {
		t.Fatal("no blob was downloaded")
	}

	// By digest, another image block: from the pull cache, no download.
	byDigest := &hclspec.Image{Name: "pinned", Source: "oci://" + reg.Host + "/hpc/rocky@" + d1, Compression: hclspec.CompressionGzip}
	tc2 := &testCluster{images: []*hclspec.Image{byDigest}, nodes: mkNodes(1, "pinned", nil, nil)}
	r2 := mustBuild(t, b, tc2.build())
	if info := r2.Images["pinned"]; info.Digest != d1 || !info.Rebuilt {
		t.Errorf("by digest: %+v", info)
	}
	if n := reg.BlobGets.Load(); n != pulls {
		t.Errorf("the same digest was downloaded again: %d blob GETs, were %d", n, pulls)
	}

	// The tag moves: examining resolves the new digest.
	moved := map[string]string{"etc/os-release": "NAME=rocky\nVERSION=9.5\n"}
	for k, v := range rockyFiles {
		if _, ok := moved[k]; !ok {
			moved[k] = v
		}
	}
	d2 := reg.Push(t, "hpc/rocky:9.4", moved)
	in, err := ComputeInputs(tc.build(), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if ii := in.Images["rocky"]; ii.Digest != d2 || ii.Err != nil {
		t.Errorf("moved tag: %+v, want digest %s", ii, d2)
	}

	checkRegistryErrors(t, reg, tagged)
	checkRegistryGC(t, b, state, reg)
}

// checkRegistryErrors: a wrong pin of image tagged (on the tag, or in the
// reference) is a repository error; without credentials, or with the
// registry unreachable, the error is transient.
func checkRegistryErrors(t *testing.T, reg *registrytest.Registry, tagged *hclspec.Image) {
	// A wrong pin (on the tag, or in the reference) is a repository error.
	bad := "sha256:" + strings.Repeat("ab", 32)
	for _, img := range []*hclspec.Image{
		{Name: "rocky", Source: tagged.Source, Digest: bad},
		{Name: "rocky", Source: "oci://" + reg.Host + "/hpc/rocky@" + bad},
	} {
		_, err := examineImage(img)
		var re *RepoError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "digest mismatch") {
			t.Errorf("%s pinned %q: %v, want a *RepoError", img.Source, img.Digest, err)
		}
	}

	// Without credentials, or with the registry unreachable: transient.
	useRegistryConfig(t, RegistryConfig{DockerConfig: filepath.Join(t.TempDir(), "none.json")})
	if _, err := examineImage(tagged); err == nil || !strings.Contains(err.Error(), "registry config") {
		t.Errorf("missing docker config: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "config.json")
	write(t, empty, `{"auths":{}}`, 0o600)
	useRegistryConfig(t, RegistryConfig{DockerConfig: empty})
	var re *RepoError
	if _, err := examineImage(tagged); err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "401") {
		t.Errorf("no credentials: %v, want a transient 401", err)
	}
	down := &hclspec.Image{Name: "down", Source: "oci://127.0.0.1:1/hpc/rocky:9.4"}
	if _, err := examineImage(down); err == nil || errors.As(err, &re) {
		t.Errorf("unreachable registry: %v, want a transient error", err)
	}
}

// checkRegistryGC: GC keeps the pulled image in the store (in state) of b
// while a kept manifest uses it, then drops it. It puts back reg's
// credentials first.
func checkRegistryGC(t *testing.T, b *Builder, state string, reg *registrytest.Registry) {
	// GC keeps the pulled image while a kept manifest uses it, then drops it.
	useRegistryConfig(t, RegistryConfig{DockerConfig: reg.DockerConfig(t)})
	blobs := func() int {
		ents, _ := os.ReadDir(filepath.Join(state, "artifacts", "oci", "blobs", "sha256"))
		return len(ents)
	}
	if _, _, err := b.GC(); err != nil || blobs() == 0 {
		t.Fatalf("gc with the image applied: %v, %d blobs", err, blobs())
	}
	local := overlayCluster(t, nil, nil, 1)
	for i := range 3 { // current, previous: the registry image leaves both
		rl := mustBuild(t, b, local.build())
		if err := b.Commit(rl); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(local.images[0].Source, "etc/n"), strings.Repeat("x", i+1), 0o644)
	}
	b.cfg.Grace = -1
	if _, _, err := b.GC(); err != nil || blobs() != 0 {
		t.Errorf("gc after the image left: %v, %d blobs remain", err, blobs())
	}
}

// TestRegistrySourceFingerprint: a registry source's fingerprint (what an
// idle poll compares) stays while its tag does, changes when the tag moves,
// and cannot be taken with the registry down (so the poll evaluates).
func TestRegistrySourceFingerprint(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	useRegistryConfig(t, RegistryConfig{})
	reg.Push(t, "hpc/rocky:9.4", rockyFiles)
	src := "oci://" + reg.Host + "/hpc/rocky:9.4"
	fp1, err := SourceFingerprint(src)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := SourceFingerprint(src); err != nil || again != fp1 {
		t.Errorf("unmoved tag: fingerprint %q (%v), was %q", again, err, fp1)
	}
	moved := map[string]string{"etc/motd": "moved\n"}
	for k, v := range rockyFiles {
		moved[k] = v
	}
	reg.Push(t, "hpc/rocky:9.4", moved)
	if fp2, err := SourceFingerprint(src); err != nil || fp2 == fp1 {
		t.Errorf("moved tag: fingerprint %q (%v), was %q", fp2, err, fp1)
	}
	reg.Close()
	if fp, err := SourceFingerprint(src); err == nil {
		t.Errorf("registry down: fingerprint %q without error", fp)
	}
}
