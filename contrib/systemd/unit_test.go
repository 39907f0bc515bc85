// Package systemd_test checks contrib/systemd/gitboot.service: that systemd
// accepts it, and (where PID 1 is systemd) that a real gitboot serve runs
// under its sandboxing, reading an image with a mode-0000 file and writing
// notes into a repository another user owns.
package systemd_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

const unitFile = "gitboot.service"

// unitProps returns the [Service] settings of the unit, in order.
func unitProps(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var props [][2]string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not KEY=VALUE", unitFile, line)
			}
			props = append(props, [2]string{k, v})
		}
	}
	return props
}

func prop(props [][2]string, key string) string {
	for _, p := range props {
		if p[0] == key {
			return p[1]
		}
	}
	return ""
}

// buildBinaries builds gitboot and gitboot-agent into dir.
func buildBinaries(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "build", "-o", dir, "../../cmd/gitboot", "../../cmd/gitboot-agent").CombinedOutput()
	if err != nil {
		t.Fatalf("building gitboot: %v\n%s", err, out)
	}
	return filepath.Join(dir, "gitboot")
}

// TestUnitVerifies runs systemd-analyze verify on the unit (its ExecStart
// pointed at a built gitboot) and checks the capabilities and paths the
// server needs, and no more.
func TestUnitVerifies(t *testing.T) {
	props := unitProps(t)
	caps := strings.Fields(prop(props, "CapabilityBoundingSet"))
	want := []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE", "CAP_CHOWN"}
	slices.Sort(caps)
	slices.Sort(want)
	if !slices.Equal(caps, want) {
		t.Errorf("CapabilityBoundingSet %v, want exactly %v", caps, want)
	}
	if ambient := strings.Fields(prop(props, "AmbientCapabilities")); !slices.Equal(sorted(ambient), caps) {
		t.Errorf("AmbientCapabilities %v, want the bounding set %v", ambient, caps)
	}
	if got := prop(props, "ProtectSystem"); got != "strict" {
		t.Errorf("ProtectSystem=%s, want strict", got)
	}
	if rw := strings.Fields(prop(props, "ReadWritePaths")); !slices.Contains(rw, "/var/lib/gitboot") || !slices.Contains(rw, "-/srv/gitboot") || len(rw) != 2 {
		t.Errorf("ReadWritePaths %v, want the state directory and the repository's directory only", rw)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing (Debian package systemd)")
		}
		t.Skip("systemd-analyze is missing (Debian package systemd): cannot verify the unit")
	}
	bin := buildBinaries(t, t.TempDir())
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "ExecStart=/usr/local/bin/gitboot ") {
		t.Fatal("the unit's ExecStart no longer runs /usr/local/bin/gitboot: update this test")
	}
	unit := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/gitboot", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), unitFile) {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

const cluster = `variable "image" {
  type = string
}

server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet = "10.99.0.0/24"
}

image "rocky" {
  source = var.image
}

node "c001" {
  mac     = "52:54:00:00:00:01"
  ip      = "10.99.0.11"
  image   = image.rocky
  network = network.cluster
}
`

// TestUnitSandboxRunsServe starts a real gitboot serve with systemd-run
// and the unit's sandboxing properties (ReadWritePaths pointed at the
// test's repository and state) in a network namespace of the test: it
// must build an image holding a mode-0000 file and write the apply note
// into a bare repository owned by another user (nobody).
func TestUnitSandboxRunsServe(t *testing.T) {
	comm, _ := os.ReadFile("/proc/1/comm")
	if strings.TrimSpace(string(comm)) != "systemd" {
		t.Skipf("PID 1 is %q, not systemd: systemd-run cannot start a transient unit here", strings.TrimSpace(string(comm)))
	}
	netnstest.Require(t)
	netnstest.RequireCommands(t, "systemd-run", "systemctl", "git")
	// Outside /tmp and /var/tmp: the unit has PrivateTmp=yes.
	top, err := os.MkdirTemp("/var/lib", "gitboot-unit-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	bin := buildBinaries(t, filepath.Join(top, "bin"))
	img := filepath.Join(top, "images", "rocky")
	writeSandboxImage(t, img)
	bare, state := filepath.Join(top, "cluster.git"), filepath.Join(top, "state")
	head := nobodysRepo(t, top, bare)

	srv, lan := netnstest.New(t, "unit"), netnstest.New(t, "unitl")
	netnstest.Veth(t, srv, "10.99.0.1/24", lan, "10.99.0.2/24")
	unit := "gitboot-test-" + netnstest.UniqueName("u")
	args := []string{"--unit", unit, "--collect", "--property=NetworkNamespacePath=/run/netns/" + srv.Name,
		"--property=StandardError=file:" + filepath.Join(top, "serve.log")}
	for _, p := range unitProps(t) {
		switch p[0] {
		case "AmbientCapabilities", "CapabilityBoundingSet", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
			"ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies", "LockPersonality":
			args = append(args, "--property="+p[0]+"="+p[1])
		case "ReadWritePaths":
			args = append(args, "--property=ReadWritePaths="+bare+" "+state)
		}
	}
	args = append(args, bin, "serve", "--repo", bare, "--state", state, "--var", "image="+img, "--image-root", filepath.Join(top, "images"),
		"--listen-http", "10.99.0.1:0", "--listen-tftp", "10.99.0.1:0", "--notes-interval", "1s")
	if out, err := exec.Command("systemd-run", args...).CombinedOutput(); err != nil {
		t.Fatalf("systemd-run: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("systemctl", "stop", unit).Run() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		note, _ := exec.Command("git", "-C", bare, "notes", "--ref=gitboot", "show", head).CombinedOutput()
		if strings.Contains(string(note), "result=applied") {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(top, "serve.log"))
			t.Fatalf("no apply note on %s within 2 minutes; serve's log:\n%s", head, log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	err = filepath.Walk(bare, func(p string, st os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 65534 {
			t.Errorf("%s belongs to uid %d after serve wrote notes, want nobody (65534)", p, sys.Uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeSandboxImage writes an image directory with a kernel, an init and
// etc/shadow of mode 0000, which serve must read all the same.
func writeSandboxImage(t *testing.T, img string) {
	t.Helper()
	for p, mode := range map[string]os.FileMode{"boot/vmlinuz-1": 0o644, "sbin/init": 0o755, "etc/shadow": 0} {
		path := filepath.Join(img, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// nobodysRepo makes the bare repository bare (pushed from a work tree
// under top holding the cluster), gives it to nobody and returns its
// head.
func nobodysRepo(t *testing.T, top, bare string) string {
	t.Helper()
	work := filepath.Join(top, "work")
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.org",
			"GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(top, "init", "-q", "--bare", "-b", "main", bare)
	git(top, "init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "main.hcl"), []byte(cluster), 0o644); err != nil {
		t.Fatal(err)
	}
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "cluster")
	git(work, "push", "-q", bare, "main")
	head := git(work, "rev-parse", "HEAD")
	// The repository belongs to nobody, 0755: only CAP_DAC_OVERRIDE lets
	// root write, and CAP_CHOWN give back what it wrote.
	if out, err := exec.Command("chown", "-R", "65534:65534", bare).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	return head
}
