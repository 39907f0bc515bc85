package artifact

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// buildAgent builds cmd/gitboot-agent into dir and returns its path.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "gitboot-agent")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/gitboot-agent")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gitboot-agent: %v\n%s", err, b)
	}
	return out
}

// TestInitRuntimeOverlayFromInitrd: /init's step 3a hands the runtime
// overlay the kernel unpacked as one file (/runtime-initrd/) to the real
// agent (--once --from, with the node's server and MAC), which lays it
// over the image and keeps the image's own copy of the file it replaces;
// one line says how many files, and the file is gone. A broken overlay or
// a missing agent: one failure line, and the file is removed all the same.
// No file: nothing happens.
func TestInitRuntimeOverlayFromInitrd(t *testing.T) {
	for _, tool := range []string{"cpio", "gzip", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	shells := initShells(t)
	bin := t.TempDir()
	real := buildAgent(t, bin)
	for _, sh := range shells {
		f := newInitrdOverlay(t, real)
		f.checkApplied(t, sh)
		f.checkRefused(t, sh)
	}
}

// initrdOverlay is a node root (dir/root) with an image's etc/hosts, the
// runtime overlay file rt /init finds (etc/hosts and etc/motd, signed with
// key for 52:54:00:00:00:01; pristine is its content) and the agent script
// that records its arguments in dir/calls and runs the real one on root.
// lib is the /init shell code that runs step 3a.
type initrdOverlay struct {
	dir, root, rt, agent, lib, pristine string
	key                                 ed25519.PrivateKey
}

// newInitrdOverlay makes the fixture; agent is the built gitboot-agent.
func newInitrdOverlay(t *testing.T, agent string) *initrdOverlay {
	f := &initrdOverlay{dir: t.TempDir()}
	f.root = filepath.Join(f.dir, "root")
	write(t, filepath.Join(f.root, "etc/hosts"), "image hosts\n", 0o644)
	// The overlay: etc/hosts shadows the image's, etc/motd is new.
	tree := filepath.Join(f.dir, "overlay")
	write(t, filepath.Join(tree, "etc/hosts"), "overlay hosts\n", 0o644)
	write(t, filepath.Join(tree, "etc/motd"), "hello\n", 0o644)
	f.rt = filepath.Join(f.dir, ".gitboot-runtime.img.gz")
	shell(t, tree, "find etc | cpio --quiet -o -H newc -R 0:0 | gzip -n > "+f.rt)
	// Signed for this node by the server's overlay key, whose public
	// half the system overlay put into the image.
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f.key = key
	write(t, filepath.Join(f.root, "usr/lib/gitboot/overlay.pub"), string(overlaysig.MarshalPublicKey(pub)), 0o644)
	f.sign(t, "52:54:00:00:00:01")
	f.pristine = readFile(t, f.rt)
	// The agent /init runs, on root instead of /.
	f.agent = filepath.Join(f.dir, "agent")
	write(t, f.agent, "#!/bin/sh\necho \"$*\" >>"+f.dir+"/calls\nexec "+agent+" \"$@\" --root "+f.root+"\n", 0o755)
	f.lib = `AGENT=` + f.agent + `; RT_INITRD=` + f.rt + `; SERVER=http://10.99.0.1:9873; MAC=52:54:00:00:00:01
initrd_overlay; echo "rc=$?"; [ -e "$RT_INITRD" ] && echo "still there"; true`
	return f
}

// sign signs the overlay file for the node with this MAC.
func (f *initrdOverlay) sign(t *testing.T, mac string) {
	sum := sha256.Sum256([]byte(readFile(t, f.rt)))
	write(t, f.rt+overlaysig.FileSuffix, overlaysig.Sign(f.key, mac, hex.EncodeToString(sum[:])), 0o600)
}

// checkApplied: with shell sh, /init applies the overlay through the agent
// (one line, the image's etc/hosts kept as an original, the files gone);
// run again without the file, it does nothing.
func (f *initrdOverlay) checkApplied(t *testing.T, sh []string) {
	out, err := initLib(t, sh, f.dir, f.lib)
	if err != nil {
		t.Fatalf("%s: %v\n%s", sh[0], err, out)
	}
	if out != "gitboot init: runtime overlay applied from the initrd (2 files)\nrc=0\n" {
		t.Errorf("%s: applied:\n%s", sh[0], out)
	}
	calls, _ := os.ReadFile(filepath.Join(f.dir, "calls"))
	if string(calls) != "--once --from "+f.rt+" --server http://10.99.0.1:9873 --mac 52:54:00:00:00:01\n" {
		t.Errorf("%s: the agent ran with %q", sh[0], calls)
	}
	if got := readFile(t, filepath.Join(f.root, "etc/hosts")); got != "overlay hosts\n" {
		t.Errorf("%s: etc/hosts is %q after the apply", sh[0], got)
	}
	if got := readFile(t, filepath.Join(f.root, "etc/motd")); got != "hello\n" {
		t.Errorf("%s: etc/motd is %q after the apply", sh[0], got)
	}
	if _, err := os.Stat(f.rt + overlaysig.FileSuffix); err == nil {
		t.Errorf("%s: the signature file is left after the apply", sh[0])
	}
	// The image's copy is kept (exactly), not recorded as unknown.
	var m struct{ Files, Originals, Unknown []string }
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(f.root, "var/lib/gitboot-agent/manifest.json"))), &m); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Originals, "etc/hosts") || len(m.Unknown) != 0 || len(m.Files) != 2 {
		t.Errorf("%s: manifest %+v: want etc/hosts among the originals, nothing unknown", sh[0], m)
	}

	// No file (secure mode, or already applied): nothing at all.
	os.Remove(filepath.Join(f.dir, "calls"))
	out, err = initLib(t, sh, f.dir, f.lib)
	if err != nil || out != "rc=0\n" {
		t.Errorf("%s: without the file: %v\n%s", sh[0], err, out)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "calls")); err == nil {
		t.Errorf("%s: the agent ran without the file", sh[0])
	}
}

// checkRefused: with shell sh, an overlay signed for another node, a
// broken overlay and a missing agent each give one failure line, apply
// nothing and remove the files.
func (f *initrdOverlay) checkRefused(t *testing.T, sh []string) {
	// Another node's signature (a replay): refused, nothing applied,
	// both files removed.
	os.Remove(filepath.Join(f.root, "etc/motd"))
	write(t, f.rt, f.pristine, 0o600)
	f.sign(t, "52:54:00:00:00:02")
	out, err := initLib(t, sh, f.dir, f.lib)
	if err != nil {
		t.Fatalf("%s: %v\n%s", sh[0], err, out)
	}
	if !regexp.MustCompile(`^gitboot init: runtime overlay: not applied from the initrd \(exit 1: [^\n]*signature does not match[^\n]*\); removed it, the agent will fetch it from the server\nrc=1\n$`).MatchString(out) {
		t.Errorf("%s: another node's signature:\n%s", sh[0], out)
	}
	if _, err := os.Stat(filepath.Join(f.root, "etc/motd")); err == nil {
		t.Errorf("%s: an overlay signed for another node was applied", sh[0])
	}
	for _, p := range []string{f.rt, f.rt + overlaysig.FileSuffix} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s: %s is left after a refused overlay", sh[0], p)
		}
	}

	// A broken overlay: one failure line with the agent's reason; removed.
	write(t, f.rt, "not gzip", 0o600)
	out, err = initLib(t, sh, f.dir, f.lib)
	if err != nil {
		t.Fatalf("%s: %v\n%s", sh[0], err, out)
	}
	if !regexp.MustCompile(`^gitboot init: runtime overlay: not applied from the initrd \(exit 1: [^\n]+\); removed it, the agent will fetch it from the server\nrc=1\n$`).MatchString(out) {
		t.Errorf("%s: a broken overlay:\n%s", sh[0], out)
	}

	// No agent: said so, and removed (the signature too).
	write(t, f.rt, "x", 0o600)
	write(t, f.rt+overlaysig.FileSuffix, "x", 0o600)
	out, err = initLib(t, sh, f.dir, strings.Replace(f.lib, "AGENT="+f.agent, "AGENT="+f.dir+"/none", 1))
	if err != nil {
		t.Fatalf("%s: %v\n%s", sh[0], err, out)
	}
	if out != "gitboot init: runtime overlay: not applied from the initrd: "+f.dir+"/none is missing or not executable; removed "+f.rt+"\nrc=1\n" {
		t.Errorf("%s: no agent:\n%s", sh[0], out)
	}
	if _, err := os.Stat(f.rt + overlaysig.FileSuffix); err == nil {
		t.Errorf("%s: the signature file is left without an agent", sh[0])
	}
}
