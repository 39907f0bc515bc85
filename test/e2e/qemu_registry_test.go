package e2e

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registryPort is where go-containerregistry's cmd/registry listens in the
// server's namespace (on localhost).
const registryPort = "5000"

// TestQEMURegistryImage runs go-containerregistry's cmd/registry as a real
// process in the server's namespace, pushes the test image to it (one
// layer), and serves examples/lab with image_source
// oci://127.0.0.1:5000/e2e/busybox:1 (--insecure-registry for plain
// HTTP): gitboot pulls the image by tag and n1 boots it in BIOS QEMU.
func TestQEMURegistryImage(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "tar")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	regBin := filepath.Join(t.TempDir(), "registry")
	build := exec.Command("go", "build", "-o", regBin, "github.com/google/go-containerregistry/cmd/registry")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building go-containerregistry's cmd/registry: %v\n%s", err, out)
	}
	image := bootableImage(t, testKernel(t))
	imageTar := filepath.Join(t.TempDir(), "image.tar")
	if out, err := exec.Command("tar", "-C", image, "-cf", imageTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar of the image: %v\n%s", err, out)
	}

	l := &qemuLab{bin: gitbootBinary(t), repo: labRepo(t), dir: t.TempDir()}
	l.lan = netnstest.New(t, "gblan")
	l.br = l.lan.Bridge(t)
	l.srv = netnstest.New(t, "gbsrv")
	netnstest.Attach(t, l.lan, l.br, l.srv, serverIP+"/24")
	reg, regLog := l.srv.Start(t, regBin, "-port", registryPort)
	host := "127.0.0.1:" + registryPort
	digest := pushInto(t, l.srv, host+"/e2e/busybox:1", imageTar)
	t.Logf("pushed the image as %s (registry log: %s)", digest, regLog.String())
	if syscall.Kill(reg.Process.Pid, 0) != nil {
		t.Fatalf("the registry exited: %s", regLog.String())
	}

	proc, log := l.srv.Start(t, l.bin, "serve", "--repo", l.repo, "--state", filepath.Join(l.dir, "state"),
		"--var", "image_source=oci://"+host+"/e2e/busybox:1", "--insecure-registry", host)
	l.log = log
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := l.srv.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/healthz"); err == nil {
			break
		}
		if time.Now().After(deadline) || syscall.Kill(proc.Process.Pid, 0) != nil {
			t.Fatalf("gitboot serve did not become ready%s", l.report())
		}
	}
	inv, err := l.srv.Output(context.Background(), "curl", "-sf", adminURL+"/inventory")
	if err != nil || !strings.Contains(string(inv), digest) {
		t.Errorf("the inventory does not record the pulled digest %s (%v):\n%s", digest, err, tail(string(inv), 2000))
	}
	vm, took := l.boot(t, "n1", biosArgs(n1MAC)...)
	t.Logf("n1 booted the registry image in %s", took.Round(100*time.Millisecond))
	l.checkServed(t, "n1", "10.99.0.11")
	l.waitPowerOff(t, vm)
}

// pushInto pushes the tar as a one-layer linux/amd64 image to ref, a
// registry reached inside ns, and returns the image's digest.
func pushInto(t *testing.T, ns *netnstest.NS, ref, tarPath string) string {
	t.Helper()
	layer, err := tarball.LayerFromFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
		return ns.Dial(network, addr)
	}}
	var lastErr error
	for i := 0; i < 50; i++ { // the registry may still be starting
		if lastErr = remote.Write(r, img, remote.WithTransport(tr)); lastErr == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("pushing to %s: %v", ref, lastErr)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
