package hclspec

import (
	"strings"
	"testing"
)

// TestAutoApply: auto_apply defaults to true, false turns it off, and
// flipping it changes the cluster hash (it changes what the server does
// with a commit).
func TestAutoApply(t *testing.T) {
	on := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL}), Options{})
	if s, _ := on.Server("head"); !s.AutoApply {
		t.Error("auto_apply: want true by default")
	}
	offHCL := strings.Replace(baseHCL, `address = "10.99.0.1"`, "address    = \"10.99.0.1\"\n  auto_apply = false", 1)
	off := mustLoad(t, mapFS(map[string]string{"main.hcl": offHCL}), Options{})
	if s, _ := off.Server("head"); s.AutoApply {
		t.Error("auto_apply = false: got true")
	}
	if on.Hash == off.Hash {
		t.Error("auto_apply does not change the cluster hash")
	}
}
