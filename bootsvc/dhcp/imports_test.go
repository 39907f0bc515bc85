package dhcp

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundary: the DHCP server serves the snapshot it is handed and
// never depends on the configuration language or the reconciler.
func TestImportBoundary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/gitboot/gitboot/hclspec", "github.com/gitboot/gitboot/reconcile"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("bootsvc/dhcp depends on %s", pkg)
			}
		}
	}
}
