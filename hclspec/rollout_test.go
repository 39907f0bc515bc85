package hclspec

import (
	"strings"
	"testing"
)

func TestRolloutBlock(t *testing.T) {
	withBlock := func(block string) string {
		return strings.Replace(baseHCL, `address = "10.99.0.1"`, "address = \"10.99.0.1\"\n"+block, 1)
	}
	def := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL}), Options{})
	if s, _ := def.Server("head"); s.Rollout != (Rollout{Batch: "10%"}) {
		t.Errorf("no rollout block: %+v, want batch 10%%, auto off, max_failures 0", s.Rollout)
	}
	set := mustLoad(t, mapFS(map[string]string{"main.hcl": withBlock("  rollout {\n    batch = \"2\"\n    auto = true\n    max_failures = 1\n  }")}), Options{})
	if s, _ := set.Server("head"); s.Rollout != (Rollout{Batch: "2", Auto: true, MaxFailures: 1}) {
		t.Errorf("rollout block: %+v", s.Rollout)
	}
	if set.Hash == def.Hash {
		t.Error("the rollout block does not change the cluster hash")
	}
	for _, tc := range []struct {
		block, summary string
		line           int
	}{
		{"  rollout {\n    batch = \"0\"\n  }", "Invalid rollout batch", 5},
		{"  rollout {\n    batch = \"150%\"\n  }", "Invalid rollout batch", 5},
		{"  rollout {\n    max_failures = -1\n  }", "Invalid max_failures", 5},
		{"  rollout {\n    max_failures = 1.5\n  }", "Invalid max_failures", 5},
		{"  rollout {\n    batsh = \"1\"\n  }", "Unsupported argument", 5},
		{"  rollout {\n  }\n  rollout {\n  }", "Duplicate rollout block", 6},
	} {
		_, diags := Load(mapFS(map[string]string{"main.hcl": withBlock(tc.block)}), Options{})
		found := false
		for _, d := range diags {
			if d.Summary == tc.summary && d.Subject != nil && d.Subject.Start.Line == tc.line && d.Subject.Filename == "main.hcl" {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: want %q at main.hcl:%d, got %v", tc.block, tc.summary, tc.line, diags)
		}
	}
}
