package hclspec

import (
	"strings"
	"testing"
)

const postApplyNodes = `
node "c001" {
  mac              = "52:54:00:00:00:01"
  ip               = "10.99.0.11"
  image            = image.rocky9
  runtime_overlays = [overlay.generic, overlay.sshd]
}
`

// TestPostApply: post_apply is optional, kept as written and part of the
// cluster's hash.
func TestPostApply(t *testing.T) {
	main := baseHCL + `
overlay "sshd" {
  source     = "overlays/generic"
  post_apply = "systemctl reload sshd"
}
`
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": main, "nodes.hcl": postApplyNodes}), Options{})
	got := map[string]string{}
	for _, o := range c.Overlays {
		got[o.Name] = o.PostApply
	}
	if got["sshd"] != "systemctl reload sshd" || got["generic"] != "" {
		t.Errorf("post_apply per overlay: %v", got)
	}
	other := mustLoad(t, mapFS(map[string]string{"main.hcl": strings.Replace(main, "reload sshd", "restart sshd", 1), "nodes.hcl": postApplyNodes}), Options{})
	if other.Hash == c.Hash {
		t.Error("changing post_apply leaves the cluster hash alone: the change would never be applied")
	}
}

func TestPostApplyInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ value, want string }{
		"empty":      {`""`, "Empty post_apply"},
		"blank":      {`"  "`, "Empty post_apply"},
		"newline":    {`"a\nb"`, "newline or NUL"},
		"nul":        {`"a\u0000b"`, "newline or NUL"},
		"wrong type": {`["systemctl"]`, "must be string"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": postApplyNodes + `
overlay "sshd" {
  source     = "overlays/generic"
  post_apply = ` + tc.value + `
}
`}), Options{})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			msg := strings.Join(errorLines(diags), "\n")
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "nodes.hcl:11") {
				t.Fatalf("diagnostic %q, want %q at nodes.hcl:11", msg, tc.want)
			}
		})
	}
}
