package reconcile

import (
	"testing"
)

// resourceFiles is the test cluster with the builtin fstab overlay in its
// runtime overlays and resources on c001 (fstab, read by the overlay, and
// rack, read by no template).
func resourceFiles(t *testing.T, mntops, rack string) map[string]string {
	files := edit(t, baseFiles(), "main.hcl", `overlay "hosts" {`, `overlay "fstab" {
  builtin = "fstab"
}

overlay "hosts" {`)
	files = edit(t, files, "main.hcl", "runtime_overlays = [overlay.generic, overlay.hosts]", "runtime_overlays = [overlay.generic, overlay.hosts, overlay.fstab]")
	return edit(t, files, "main.hcl", `  ip       = "10.99.0.11"
`, `  ip       = "10.99.0.11"
  resources = {
    fstab = [{ spec = "head:/home", file = "/home", vfstype = "nfs", mntops = "`+mntops+`" }]
    rack  = "`+rack+`"
  }
`)
}

// A commit that changes only one node's resources is planned as a change
// of that node alone (its runtime overlay: no reboot); a change of a
// resource no template reads, like a comment, plans nothing.
func TestReconcileResourcesChange(t *testing.T) {
	e := newRecEnv(t)
	e.mustApply(e.repo.commit(resourceFiles(t, "defaults", "r1"), "first"))
	c2 := e.repo.commit(resourceFiles(t, "ro,nofail", "r1"), "c001 mounts /home read-only")
	ev := e.mustApply(c2)
	if len(ev.Plan.ResourceChanges) != 1 || ev.Plan.ResourceChanges[0].Address != "node.c001" {
		t.Fatalf("planned %+v, want a change of node.c001 alone", ev.Plan.ResourceChanges)
	}
	if len(ev.Plan.NeedsReboot) != 0 {
		t.Errorf("a runtime overlay change needs a reboot of %v", ev.Plan.NeedsReboot)
	}
	before, after := node(e.published[0], "c001").Artifacts, node(e.published[1], "c001").Artifacts
	if before.Runtime.Digest == after.Runtime.Digest || before.System.Digest != after.System.Digest {
		t.Error("c001: want a new runtime overlay and the same system overlay")
	}
	if b, a := node(e.published[0], "c002").Artifacts, node(e.published[1], "c002").Artifacts; b.Runtime.Digest != a.Runtime.Digest || b.System.Digest != a.System.Digest {
		t.Error("c002's artifacts changed")
	}

	for _, c := range []struct {
		name  string
		files map[string]string
	}{
		{"a resource no template reads", resourceFiles(t, "ro,nofail", "r2")},
		{"a comment", edit(t, resourceFiles(t, "ro,nofail", "r2"), "main.hcl", "# a small test cluster", "# a small test cluster, commented")},
	} {
		commit := e.repo.commit(c.files, c.name)
		ev, err := e.once(Options{})
		if err != nil || ev.Commit.Hash != commit || ev.Result == ResultRejected {
			t.Fatalf("%s: %q %v", c.name, ev.Result, err)
		}
		if ev.Plan == nil || ev.Plan.HasChanges() {
			t.Errorf("%s: planned %+v", c.name, ev.Plan)
		}
	}
}
