package reconcile

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/gitboot/gitboot/internal/registrytest"
)

// TestPlanRegistryTag: an image from a registry tag is planned by the
// digest the tag names: the inventory records it, a moved tag is a change
// (`~ image.rocky`, digest old -> new, its nodes need a reboot), and with
// the registry unreachable the digest is known after apply.
func TestPlanRegistryTag(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	files := map[string]string{"boot/vmlinuz-6.1.0-13-amd64": "kernel", "etc/os-release": "NAME=rocky\n"}
	d1 := reg.Push(t, "hpc/rocky:9.4", files)
	e := newPlanEnv(t)
	vars := map[string]string{"image": "oci://" + reg.Host + "/hpc/rocky:9.4"}
	running := e.desire(baseFiles(), vars, true, priorHash, "before")
	if got := running.Images["rocky"].Resolved; got != d1 {
		t.Fatalf("inventory records digest %q, want %s", got, d1)
	}
	if p := diff(t, running, e.desire(baseFiles(), vars, true, nextHash, "same")); p.HasChanges() {
		t.Errorf("an unmoved tag plans changes: %+v", p.ResourceChanges)
	}

	files["etc/os-release"] = "NAME=rocky\nVERSION=9.5\n"
	d2 := reg.Push(t, "hpc/rocky:9.4", files)
	text := planText(t, diff(t, running, e.desire(baseFiles(), vars, true, nextHash, "tag moved")))
	if !regexp.MustCompile(`~ image\.rocky\n\s+~ digest = "` + d1 + `" -> "` + d2 + `"\n`).MatchString(text) {
		t.Errorf("moved tag, plan:\n%s", text)
	}
	if !regexp.MustCompile(`Needs reboot: 2 node`).MatchString(text) {
		t.Errorf("moved tag needs no reboot:\n%s", text)
	}

	reg.Close()
	text = planText(t, diff(t, running, e.desire(baseFiles(), vars, true, nextHash, "registry down")))
	if !regexp.MustCompile(`~ digest = "` + d1 + `" -> \(known after apply\)`).MatchString(text) {
		t.Errorf("registry unreachable, plan:\n%s", text)
	}
}

func planText(t *testing.T, p *Plan) string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.WriteText(&buf, false); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
