package hclspec

import (
	"strings"
	"testing"
)

// TestOverlayFiles: file blocks are kept in order with their parsed mode,
// owner and group, and are part of the cluster's hash.
func TestOverlayFiles(t *testing.T) {
	main := baseHCL + `
overlay "sshd" {
  source = "overlays/generic"
  file "etc/munge/munge.key" {
    mode  = "0400"
    owner = "munge"
    group = "munge"
  }
  file "etc/ssh/ssh_host_*_key" { mode = "600" }
  file "root/.ssh" {
    mode  = "4700"
    owner = 0
    group = "1000"
  }
}
`
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": main, "nodes.hcl": postApplyNodes}), Options{})
	o, _ := c.Overlay("sshd")
	if len(o.Files) != 3 {
		t.Fatalf("%d file blocks, want 3", len(o.Files))
	}
	want := []FileAttr{
		{Glob: "etc/munge/munge.key", Mode: 0o400, ModeSet: true, Owner: "munge", Group: "munge"},
		{Glob: "etc/ssh/ssh_host_*_key", Mode: 0o600, ModeSet: true},
		{Glob: "root/.ssh", Mode: 0o4700, ModeSet: true, Owner: "0", Group: "1000"},
	}
	for i, w := range want {
		g := o.Files[i]
		if g.Glob != w.Glob || g.Mode != w.Mode || g.ModeSet != w.ModeSet || g.Owner != w.Owner || g.Group != w.Group {
			t.Errorf("file %d = %+v, want %+v", i, *g, w)
		}
	}
	if r := o.Files[0].OwnerRange; r.Filename != "main.hcl" || r.Start.Line == 0 {
		t.Errorf("owner range %v: want its place in main.hcl", r)
	}
	if g, _ := c.Overlay("generic"); len(g.Files) != 0 {
		t.Errorf("overlay generic has file blocks %v", g.Files)
	}
	other := mustLoad(t, mapFS(map[string]string{"main.hcl": strings.Replace(main, `"0400"`, `"0440"`, 1), "nodes.hcl": postApplyNodes}), Options{})
	if other.Hash == c.Hash {
		t.Error("changing a file mode leaves the cluster hash alone: the change would never be applied")
	}
}

func TestOverlayFilesInvalid(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"mode number":    {`file "a" { mode = 0400 }`, "a number is read as decimal"},
		"mode not octal": {`file "a" { mode = "0800" }`, `mode of file "a" of overlay "sshd" must be octal`},
		"mode too long":  {`file "a" { mode = "17777" }`, "must be octal"},
		"owner spaces":   {`file "a" { owner = "mun ge" }`, "neither a name"},
		"group colon":    {`file "a" { group = "a:b" }`, "neither a name"},
		"id too large":   {`file "a" { owner = "4294967295" }`, "not a valid id"},
		"absolute":       {`file "/etc/a" { mode = "0600" }`, "relative to the overlay's root"},
		"dotdot":         {`file "etc/../a" { mode = "0600" }`, "clean relative path"},
		"bad glob":       {`file "etc/[a" { mode = "0600" }`, "bad glob syntax"},
		"empty":          {`file "etc/a" {}`, "sets nothing"},
		"unknown attr":   {`file "etc/a" { perms = "0600" }`, "perms"},
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL, "nodes.hcl": postApplyNodes + `
overlay "sshd" {
  source = "overlays/generic"
  ` + tc.block + `
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
