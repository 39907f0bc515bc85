package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file block's mode or owner is part of the desired state: a commit that
// changes only a mode is a change of the overlay (naming the file) and of
// every node's runtime overlay, in `gitboot plan`.
func TestPlanFileModeChange(t *testing.T) {
	e := newRecEnv(t)
	block := func(mode string) map[string]string {
		return edit(t, baseFiles(), "main.hcl", "overlay \"generic\" {\n  source = \"overlays/generic\"\n}",
			"overlay \"generic\" {\n  source = \"overlays/generic\"\n  file \"etc/motd\" { mode = \""+mode+"\" }\n}")
	}
	e.mustApply(e.repo.commit(block("0644"), "motd 0644"))
	running, data := e.rec.Running()

	same, err := PlanCommit(e.repo.source(), e.repo.commit(block("0644"), "again, unchanged"), e.vars, "", nil, running, data)
	if err != nil || same.HasChanges() {
		t.Fatalf("an unchanged mode: %v %+v", err, same)
	}
	p, err := PlanCommit(e.repo.source(), e.repo.commit(block("0400"), "motd 0400"), e.vars, "", nil, running, data)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{"overlay.generic", "~ file etc/motd", "mode 0644\" -> ", "mode 0400\"", "node.c001", "runtime_overlay : generic: ~etc/motd"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan of a mode change does not show %q:\n%s", want, text)
		}
	}
	for _, n := range p.NeedsReboot {
		t.Errorf("a runtime overlay's mode change needs no reboot, but %s does", n)
	}

	// (One argument per line: HCL's one-line blocks hold one argument.)
	owner := edit(t, block("0400"), "main.hcl", `{ mode = "0400" }`, "{\n    mode  = \"0400\"\n    owner = \"1000\"\n  }")
	p, err = PlanCommit(e.repo.source(), e.repo.commit(owner, "motd owned by 1000"), e.vars, "", nil, running, data)
	if err != nil || !p.HasChanges() {
		t.Fatalf("an owner change: %v, changes %v", err, p != nil && p.HasChanges())
	}
}

// Planned on the server's state, an overlay that would put a directory
// where the applied image has a file is an invalid commit naming the
// overlay, the path and the image.
func TestPlanLayoutConflict(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	running, data := e.rec.Running()
	// The test image has sbin/init as a file.
	bad := with(baseFiles(), "overlays/generic/sbin/init/x", "x\n")
	c := e.repo.commit(bad, "a directory over /sbin/init")
	if _, err := PlanCommit(e.repo.source(), c, e.vars, "", nil, running, data); err != nil {
		t.Fatalf("without the state (CI): %v, want a plan (the build decides)", err)
	}
	_, err := PlanCommitState(e.state, e.repo.source(), c, e.vars, "", nil, running, data)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Diags) == 0 {
		t.Fatalf("on the state: %v, want a *ConfigError", err)
	}
	d := ce.Diags[0]
	for _, want := range []string{"overlay generic", "/sbin/init", "image rocky"} {
		if !strings.Contains(d.Detail, want) {
			t.Errorf("diagnostic %q does not name %q", d.Detail, want)
		}
	}
	if d.Subject == nil || d.Subject.Filename != "main.hcl" {
		t.Errorf("diagnostic at %v, want the overlay block in main.hcl", d.Subject)
	}
	// The build rejects it the same way.
	ev, err := e.once(Options{})
	if ev.Result != ResultRejected || err == nil || !strings.Contains(err.Error(), "/sbin/init") {
		t.Errorf("applying it: %q %v, want rejected naming /sbin/init", ev.Result, err)
	}
	if _, err := os.Stat(filepath.Join(e.state, "artifacts")); err != nil {
		t.Fatal(err)
	}
}

// Planned on the server's state, an owner name the image lacks is an
// invalid commit with the diagnostic at the owner attribute.
func TestPlanUnknownOwner(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	running, data := e.rec.Running()
	files := edit(t, baseFiles(), "main.hcl", "overlay \"generic\" {\n  source = \"overlays/generic\"\n}",
		"overlay \"generic\" {\n  source = \"overlays/generic\"\n  file \"etc/motd\" {\n    owner = \"munge\"\n  }\n}")
	c := e.repo.commit(files, "owned by munge")
	_, err := PlanCommitState(e.state, e.repo.source(), c, e.vars, "", nil, running, data)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Diags) != 1 {
		t.Fatalf("plan: %v, want a *ConfigError with one diagnostic", err)
	}
	d := ce.Diags[0]
	line := strings.Count(files["main.hcl"][:strings.Index(files["main.hcl"], `owner = "munge"`)], "\n") + 1
	if d.Subject == nil || d.Subject.Filename != "main.hcl" || d.Subject.Start.Line != line {
		t.Errorf("diagnostic at %v, want main.hcl:%d (the owner attribute)", d.Subject, line)
	}
	for _, want := range []string{`owner "munge"`, "/etc/passwd", "image rocky"} {
		if !strings.Contains(d.Detail, want) {
			t.Errorf("diagnostic %q does not say %q", d.Detail, want)
		}
	}
}
