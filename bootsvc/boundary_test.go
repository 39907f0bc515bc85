package bootsvc_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundary enforces DESIGN.md's one-way data flow: the boot
// services serve a snapshot they are handed and never import the
// configuration language or the reconciler.
func TestImportBoundary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/gitboot/gitboot/bootsvc/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list returned too little to judge: %q", deps)
	}
	for _, dep := range deps {
		for _, banned := range []string{"github.com/gitboot/gitboot/hclspec", "github.com/gitboot/gitboot/reconcile"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("bootsvc depends on %s; boot services must not import hclspec or reconcile", dep)
			}
		}
	}
}
