package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/reconcile"
)

// cliCluster is a one-node cluster whose image is var.image.
const cliCluster = `variable "image" {
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

overlay "generic" {
  source = "overlays/generic"
}

node "c001" {
  mac              = "52:54:00:00:00:01"
  ip               = "10.99.0.11"
  image            = image.rocky
  network          = network.cluster
  runtime_overlays = [overlay.generic]
}
`

// cliEnv is a git repository (made with the git command), a directory
// image and a state directory for running plan and apply.
type cliEnv struct {
	t           *testing.T
	repo, state string
	image       string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	e := &cliEnv{t: t, repo: t.TempDir(), state: t.TempDir(), image: filepath.Join(t.TempDir(), "rocky")}
	writeTestFile(t, filepath.Join(e.image, "boot/vmlinuz-1"), "not a kernel\n")
	writeTestFile(t, filepath.Join(e.image, "sbin/init"), "#!/bin/sh\n")
	e.git("init", "-q", "-b", "main")
	e.commit(map[string]string{"main.hcl": cliCluster, "overlays/generic/etc/motd": "one\n"}, "first")
	return e
}

func writeTestFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *cliEnv) git(args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = e.repo
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files into the work tree (others stay) and commits.
func (e *cliEnv) commit(files map[string]string, msg string) string {
	e.t.Helper()
	for p, data := range files {
		writeTestFile(e.t, filepath.Join(e.repo, p), data)
	}
	e.git("add", "-A")
	e.git("commit", "-q", "-m", msg)
	return e.git("rev-parse", "HEAD")
}

// run runs gitboot with --repo, --state, --var image=... and --image-root
// (the image's directory) appended.
func (e *cliEnv) run(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--repo", e.repo, "--state", e.state, "--var", "image="+e.image, "--image-root", filepath.Dir(e.image))
	code = runWith(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPlanDetailedExitCode(t *testing.T) {
	e := newCLIEnv(t)
	code, out, errs := e.run("plan", "--detailed-exitcode")
	if code != 2 || !strings.Contains(out, "+ node.c001") || !strings.Contains(out, "Plan: 6 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("plan with changes: exit %d, want 2\n%s%s", code, out, errs)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour written to a non-terminal")
	}
	if code, out, errs := e.run("plan"); code != 0 {
		t.Errorf("plan without --detailed-exitcode: exit %d, want 0\n%s%s", code, out, errs)
	}
	if code, out, errs := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = e.run("plan", "--detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("plan after apply: exit %d, want 0\n%s%s", code, out, errs)
	}

	// An invalid commit: exit 1 with the diagnostic and its snippet.
	e.commit(map[string]string{"main.hcl": strings.Replace(cliCluster, "image.rocky", "image.rocky8", 1)}, "typo")
	code, out, errs = e.run("plan", "--detailed-exitcode")
	if code != 1 || out != "" {
		t.Errorf("invalid commit: exit %d, want 1; stdout %q", code, out)
	}
	for _, want := range []string{"is invalid", "Reference to undeclared image", "image.rocky8", "main.hcl"} {
		if !strings.Contains(errs, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, errs)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	e := newCLIEnv(t)
	code, out, errs := e.run("plan", "--json", "--detailed-exitcode")
	if code != 2 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan --json is not JSON: %v\n%s", err, out)
	}
	if p["format_version"] != reconcile.PlanFormatVersion || p["desired"] != nil {
		t.Errorf("format_version %v, desired present: %v", p["format_version"], p["desired"] != nil)
	}
	rcs, _ := p["resource_changes"].([]any)
	var addrs []string
	for _, rc := range rcs {
		addrs = append(addrs, rc.(map[string]any)["address"].(string))
	}
	if got := strings.Join(addrs, " "); got != "server.head network.cluster image.rocky overlay.generic overlay.gitboot-init node.c001" {
		t.Errorf("addresses: %s", got)
	}
}

// plan --out saves a plan that apply FILE applies; the same file applied
// again after another apply is refused as stale.
func TestPlanOutApplyStale(t *testing.T) {
	e := newCLIEnv(t)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	code, out, errs := e.run("plan", "--out", planFile)
	if code != 0 || !strings.Contains(out, "gitboot apply "+planFile) {
		t.Fatalf("plan --out: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runApplyFile(e, planFile)
	if code != 0 || !strings.Contains(out, "Apply complete") || !strings.Contains(out, "applied. 6 added") {
		t.Fatalf("apply %s: exit %d\n%s%s", planFile, code, out, errs)
	}
	inv, _, err := reconcile.ReadInventory(e.state)
	if err != nil || inv == nil || len(inv.Nodes) != 1 {
		t.Fatalf("inventory after apply: %v %v", inv, err)
	}

	// Plan the next commit, then let another apply change the running
	// state first: the saved plan is stale.
	e.commit(map[string]string{"overlays/generic/etc/motd": "two\n"}, "two")
	if code, out, errs := e.run("plan", "--out", planFile); code != 0 {
		t.Fatalf("plan --out: exit %d\n%s%s", code, out, errs)
	}
	e.commit(map[string]string{"overlays/generic/etc/motd": "three\n"}, "three")
	if code, out, errs := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	before, _ := os.ReadFile(filepath.Join(e.state, reconcile.InventoryFile))
	code, out, errs = runApplyFile(e, planFile)
	if code != 1 || !strings.Contains(errs, "stale plan") {
		t.Errorf("stale plan: exit %d, want 1 and \"stale plan\"\n%s%s", code, out, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(e.state, reconcile.InventoryFile)); !bytes.Equal(before, after) {
		t.Error("a stale plan changed the recorded inventory")
	}
}

// runApplyFile runs gitboot apply FILE (no --ref: the plan names its
// commit).
func runApplyFile(e *cliEnv, planFile string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith([]string{"apply", planFile, "--repo", e.repo, "--state", e.state, "--var", "image=" + e.image, "--image-root", filepath.Dir(e.image)}, &out, &errb)
	return code, out.String(), errb.String()
}
