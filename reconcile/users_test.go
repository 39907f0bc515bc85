package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const usersHCL = `user "alice" {
  uid    = 1001
  groups = ["hpc"]
  shell  = "/bin/bash"
}

group "hpc" {
  gid = 2000
}
`

// Declared users are desired state: adding one plans (and applies) a new
// system overlay for the nodes that select it, with a reboot; a
// comment-only commit plans nothing; narrowing a node's users changes
// that node alone; and, planned on the server's state, a user the image
// has already is an invalid commit naming the user block and the image.
func TestPlanUsers(t *testing.T) {
	e := newRecEnv(t)
	writeFile(t, filepath.Join(e.image, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndebian:x:1000:1000::/home/debian:/bin/sh\n")
	writeFile(t, filepath.Join(e.image, "etc/group"), "root:x:0:\ndebian:x:1000:\n")
	e.mustApply(e.repo.commit(baseFiles(), "first"))
	running, data := e.rec.Running()

	withUsers := with(baseFiles(), "users.hcl", usersHCL)
	add := e.repo.commit(withUsers, "alice")
	p, err := PlanCommitState(e.state, e.repo.source(), add, e.vars, "", nil, running, data)
	if err != nil {
		t.Fatal(err)
	}
	text := planText(t, p)
	t.Logf("plan adding alice:\n%s", text)
	for _, want := range []string{"node.c001", "node.c002", "system_overlay", "gitboot-accounts: +group hpc, +user alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan adding alice does not show %q:\n%s", want, text)
		}
	}
	if !slices.Equal(p.NeedsReboot, []string{"c001", "c002"}) {
		t.Errorf("needs reboot %v, want both nodes (the system overlay changed)", p.NeedsReboot)
	}
	ev := e.mustApply(add)
	running, data = e.rec.Running()
	sys := running.Nodes["c001"].Artifacts.System
	if sys == "" || sys == "-" {
		t.Fatalf("no system overlay digest after apply: %+v", ev)
	}

	comment := e.repo.commit(with(withUsers, "users.hcl", "# the site's accounts\n"+usersHCL), "a comment")
	if p, err := PlanCommit(e.repo.source(), comment, e.vars, "", nil, running, data); err != nil || p.HasChanges() {
		t.Fatalf("a comment-only commit: %v, changes:\n%s", err, planText(t, p))
	}

	none := edit(t, withUsers, "main.hcl", "node \"c002\" {\n  mac      = \"52:54:00:00:00:02\"",
		"node \"c002\" {\n  users    = []\n  mac      = \"52:54:00:00:00:02\"")
	p, err = PlanCommit(e.repo.source(), e.repo.commit(none, "no users on c002"), e.vars, "", nil, running, data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.NeedsReboot, []string{"c002"}) {
		t.Errorf("users = [] on c002: reboot %v, want c002 alone\n%s", p.NeedsReboot, planText(t, p))
	}

	clash := with(baseFiles(), "users.hcl", strings.Replace(usersHCL, `user "alice"`, `user "debian"`, 1))
	_, err = PlanCommitState(e.state, e.repo.source(), e.repo.commit(clash, "debian again"), e.vars, "", nil, running, data)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Diags) != 1 {
		t.Fatalf("plan of a user the image has: %v, want a *ConfigError with one diagnostic", err)
	}
	d := ce.Diags[0]
	if d.Subject == nil || d.Subject.Filename != "users.hcl" || d.Subject.Start.Line != 1 {
		t.Errorf("diagnostic at %v, want users.hcl:1 (the user block)", d.Subject)
	}
	if !strings.Contains(d.Detail, "user debian already exists in image rocky (uid 1000)") {
		t.Errorf("diagnostic %q", d.Detail)
	}
	if _, err := os.Stat(e.image); err != nil {
		t.Fatal(err)
	}
}
