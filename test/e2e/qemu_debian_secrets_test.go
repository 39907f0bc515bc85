package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/gitboot/gitboot/internal/sshhostkeys"
)

// mungeOwner is the munge key's owner and group on the node: a user
// declared in the repository (with its private group), not the image's.
const mungeOwner = "munge"

// secretsCluster is TestQEMUDebianSecrets' repository: secure runtime
// overlays (secrets may only be there), the builtin ssh_host_keys and a
// munge key as an age file. d2 is declared but never booted: the
// neighbour whose address asks for d1's overlay.
const secretsCluster = `server "head" {
  address        = "10.99.0.1"
  networks       = [network.cluster]
  secure_runtime = true
}

network "cluster" {
  subnet     = "10.99.0.0/24"
  gateway    = "10.99.0.1"
  dns        = ["10.99.0.1"]
  domain     = "cluster.local"
  lease_time = "1h"
}

variable "image_source" {
  type = string
}

image "debian12" {
  source = var.image_source
}

user "munge" {
  uid   = 990
  home  = "/nonexistent"
  shell = "/usr/sbin/nologin"
}

overlay "facts" {
  source = "overlays/facts"
}

overlay "site" {
  source = "overlays/site"
  file "etc/munge/munge.key" {
    mode  = "0400"
    owner = "` + mungeOwner + `"
    group = "` + mungeOwner + `"
  }
}

overlay "ssh" {
  builtin = "ssh_host_keys"
}

profile "debian" {
  image            = image.debian12
  network          = network.cluster
  kernel_args      = ["console=ttyS0"]
  system_overlays  = [overlay.facts]
  runtime_overlays = [overlay.site, overlay.ssh]
}

node "d1" {
  mac      = "` + d1MAC + `"
  ip       = "` + d1IP + `"
  profiles = [profile.debian]
}

node "d2" {
  mac      = "` + d2MAC + `"
  ip       = "` + d2IP + `"
  profiles = [profile.debian]
}
`

// secretsFactsScript prints one GBFACT line once sshd has started: the
// host keys' and the munge key's modes and owners, the start of the munge
// key's sha256, the number of lines of ssh_known_hosts.
const secretsFactsScript = `#!/bin/sh
st() { stat -c %a:%U:%G "$1" 2>/dev/null || echo missing; }
sum=$(sha256sum /etc/munge/munge.key 2>/dev/null | cut -c1-16)
echo "GBFACT node=$(hostname) agent=$(systemctl is-active gitboot-agent.service) ssh=$(systemctl is-active ssh.service) ed=$(st /etc/ssh/ssh_host_ed25519_key) ecdsa=$(st /etc/ssh/ssh_host_ecdsa_key) rsa=$(st /etc/ssh/ssh_host_rsa_key) edpub=$(st /etc/ssh/ssh_host_ed25519_key.pub) kh=$(st /etc/ssh/ssh_known_hosts):$(grep -vc "^#" /etc/ssh/ssh_known_hosts) munge=$(st /etc/munge/munge.key) mungesum=$sum" >/dev/ttyS0
`

const secretsFactsUnit = `[Unit]
Description=gitboot e2e: secrets facts on ttyS0
After=gitboot-agent.service ssh.service

[Service]
Type=oneshot
ExecStart=/bin/sh /usr/local/sbin/gbfacts

[Install]
WantedBy=multi-user.target
`

// TestQEMUDebianSecrets boots the real Debian 12 image (BIOS, d1) twice
// from a repository whose host keys `gitboot secrets ssh-host-keys` made:
//
//   - ssh-keyscan from the server's namespace gets, on both boots, the
//     host keys committed as secrets/ssh/d1/*.pub (the image's own keys,
//     made when it was built, differ);
//   - the private keys are 0600 root:root on the node, the .pub 0644,
//     /etc/ssh/ssh_known_hosts lists both nodes' keys;
//   - `git log -p` of the repository holds no private key;
//   - a munge key committed as etc/munge/munge.key.age arrives decrypted,
//     0400 munge:munge (a user declared in the repository) as its file
//     block says;
//   - from d2's address (a neighbour, privileged port), d1's runtime
//     overlay is refused (403) while d2's own is served.
func TestQEMUDebianSecrets(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "qemu-system-x86_64", "git", "curl", "ssh-keyscan")
	if !haveFile("/usr/lib/ipxe/qemu/efi-virtio.rom", "/usr/share/qemu/efi-virtio.rom") {
		skipOrFail(t, "QEMU's iPXE ROM efi-virtio.rom is missing: install ipxe-qemu")
	}
	began := time.Now()
	image := debianImage(t)
	repo, identity, mungeSum := secretsRepo(t)
	l := startDebianLab(t, repo, image, "--age-identity", identity)

	first := l.bootSecrets(t, mungeSum)
	want := committedKeys(t, repo, "d1")
	t.Logf("d1's committed host keys (ssh-keyscan must give them on both boots):\n%s", want)
	if got := l.keyscan(t, first); got != want {
		t.Errorf("first boot: ssh-keyscan of d1 gives\n%s\nwant the committed keys\n%s%s", got, want, l.debianReport(first))
	}
	l.checkNeighbourRefused(t)
	if log := git(t, repo, "log", "-p"); strings.Contains(log, "PRIVATE KEY") || !strings.Contains(log, "ssh-ed25519 ") {
		t.Error("git log -p holds a private key in clear, or no public key at all")
	}

	// Power-cycle d1: the same keys again.
	syscall.Kill(-first.pid, syscall.SIGKILL)
	for stop := time.Now().Add(30 * time.Second); first.running() && time.Now().Before(stop); {
		time.Sleep(200 * time.Millisecond)
	}
	// The second boot's console goes to a new file: keep the first's aside.
	if err := os.Rename(first.serial, first.serial+".boot1"); err != nil {
		t.Fatal(err)
	}
	first.serial += ".boot1"
	second := l.bootSecrets(t, mungeSum)
	if got := l.keyscan(t, second); got != want {
		t.Errorf("second boot: ssh-keyscan of d1 gives\n%s\nwant the committed keys (as the first boot)\n%s%s", got, want, l.debianReport(second))
	}
	t.Logf("TestQEMUDebianSecrets: %s in all", time.Since(began).Round(time.Second))
}

// secretsRepo writes the test repository: the server's age identity (a
// file outside it, for --age-identity), host keys made by the gitboot
// command, and a munge key encrypted to the identity. It returns the
// repository, the identity file and the munge key's short sha256.
func secretsRepo(t *testing.T) (repo, identity, mungeSum string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	identity = filepath.Join(t.TempDir(), "server.agekey")
	if err := os.WriteFile(identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	munge := make([]byte, 1024)
	for i := range munge {
		munge[i] = byte(i * 7)
	}
	sum := sha256.Sum256(munge)
	var enc bytes.Buffer
	w, err := age.Encrypt(&enc, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(munge)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	repo = filepath.Join(t.TempDir(), "secrets")
	files := map[string]string{
		"cluster.hcl": secretsCluster,
		"overlays/facts/etc/systemd/system/gbfacts.service":     secretsFactsUnit,
		"overlays/facts/etc/systemd/system/gbmultiuser.service": multiUserUnit,
		"overlays/facts/usr/local/sbin/gbfacts":                 secretsFactsScript,
		"overlays/site/etc/munge/munge.key.age":                 enc.String(),
	}
	writeUnitRepo(t, repo, files, []string{"gbfacts.service", "gbmultiuser.service"}, "secrets test cluster")
	out, err := runGitboot(t, "secrets", "ssh-host-keys", "--repo", repo, "--var", "image_source=/nonexistent", "--recipient", id.Recipient().String())
	if err != nil || strings.Count(out, "wrote ") != 12 {
		t.Fatalf("gitboot secrets ssh-host-keys: %v, want 12 files written (2 nodes, 3 keys, .age and .pub)\n%s", err, out)
	}
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "ssh host keys")
	return repo, identity, hex.EncodeToString(sum[:])[:16]
}

// runGitboot runs the gitboot binary and returns its combined output.
func runGitboot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(gitbootBinary(t), args...).CombinedOutput()
	return string(out), err
}

// bootSecrets powers d1 on and checks what its GBFACT line says.
func (l *debianLab) bootSecrets(t *testing.T, mungeSum string) *qemuVM {
	t.Helper()
	vm := l.startDebian(t, "d1", d1IP, "", debianBIOS(d1MAC)...)
	f, took, msg := l.waitMultiUserErr(vm)
	if msg != "" {
		t.Fatal(msg)
	}
	t.Logf("d1: power-on to multi-user.target %s; facts: %v", took.Round(100*time.Millisecond), f)
	want := map[string]string{
		"node": "d1", "agent": "active", "ssh": "active",
		"ed": "600:root:root", "ecdsa": "600:root:root", "rsa": "600:root:root", "edpub": "644:root:root",
		"kh": "644:root:root:6", "munge": "400:" + mungeOwner + ":" + mungeOwner, "mungesum": mungeSum,
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("d1: %s=%q on the node; want %q%s", k, f[k], v, l.debianReport(vm))
		}
	}
	return vm
}

// keyscan returns d1's host keys as ssh-keyscan sees them from the server's
// namespace: "TYPE BASE64" lines, sorted.
func (l *debianLab) keyscan(t *testing.T, vm *qemuVM) string {
	t.Helper()
	out, err := l.srv.Output(context.Background(), "ssh-keyscan", "-T", "20", "-t", "ed25519,ecdsa,rsa", d1IP)
	if err != nil {
		t.Fatalf("ssh-keyscan %s: %v\n%s%s", d1IP, err, out, l.debianReport(vm))
	}
	var keys []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == d1IP {
			keys = append(keys, f[1]+" "+f[2])
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}

// committedKeys returns node's committed public keys as keyscan does.
func committedKeys(t *testing.T, repo, node string) string {
	t.Helper()
	var keys []string
	for _, typ := range sshhostkeys.Types {
		data, err := os.ReadFile(filepath.Join(repo, sshhostkeys.PublicFile(node, typ)))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(data))
		keys = append(keys, f[0]+" "+f[1])
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}

// checkNeighbourRefused asks for d1's runtime overlay from d2's address
// and a privileged port, as root on d2 could: refused. d2's own overlay,
// asked the same way, is served (so the refusal is about the node).
func (l *debianLab) checkNeighbourRefused(t *testing.T) {
	t.Helper()
	nb := netnstest.New(t, "gbdnb")
	netnstest.Attach(t, l.lan, l.br, nb, d2IP+"/24")
	code := func(mac string) string {
		out, _ := nb.Output(context.Background(), "curl", "-sk", "--max-time", "30", "--local-port", "700-799",
			"-o", "/dev/null", "-w", "%{http_code}", "https://"+serverIP+":9874/runtime/"+mac)
		return strings.TrimSpace(string(out))
	}
	if got := code(d1MAC); got != "403" {
		t.Errorf("d1's runtime overlay asked from d2's address %s: HTTP %s, want 403%s", d2IP, got, l.report())
	}
	if got := code(d2MAC); got != "200" {
		t.Errorf("d2's own runtime overlay asked from its address %s: HTTP %s, want 200%s", d2IP, got, l.report())
	}
	t.Logf("from d2's address, port 700-799: d1's runtime overlay refused, d2's served")
}
