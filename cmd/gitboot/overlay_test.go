package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// overlay render lists what a node gets (mode and owner from file blocks)
// and prints one file as rendered for it.
func TestOverlayRender(t *testing.T) {
	e := newCLIEnv(t)
	e.commit(map[string]string{
		"main.hcl": strings.Replace(cliCluster, `source = "overlays/generic"`, `source = "overlays/generic"
  file "etc/motd" {
    mode  = "0400"
    owner = "1000"
  }`, 1),
		"overlays/generic/etc/node.tmpl": "I am {{.Node.Name}}\n",
	}, "modes")
	if code, out, errs := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := e.run("overlay", "render", "c001")
	if code != 0 {
		t.Fatalf("render: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "KIND") || !strings.Contains(out, "/etc/node") {
		t.Errorf("render lists:\n%s", out)
	}
	var motd string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, " /etc/motd") {
			motd = strings.Join(strings.Fields(l), " ")
		}
	}
	if motd != "runtime file 0400 1000:0 4 generic /etc/motd" {
		t.Errorf("the /etc/motd line: %q\n%s", motd, out)
	}
	if strings.Contains(errs, "not built") {
		t.Errorf("the applied image's layout was not found: %s", errs)
	}

	code, out, errs = e.run("overlay", "render", "c001", "/etc/node")
	if code != 0 || out != "I am c001\n" {
		t.Errorf("render one file: exit %d %q %s", code, out, errs)
	}
	code, out, _ = e.run("overlay", "render", "c001", "etc/node", "--json")
	var got struct {
		Path, Overlay, Content string
		Mode                   uint32
	}
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got.Path != "etc/node" || got.Content != "I am c001\n" || got.Overlay != "generic" {
		t.Errorf("render --json: exit %d %v %+v\n%s", code, err, got, out)
	}
	if code, _, errs := e.run("overlay", "render", "c001", "/etc/nope"); code == 0 || !strings.Contains(errs, "no file /etc/nope") {
		t.Errorf("a missing file: exit %d %s", code, errs)
	}
}

// plan --state refuses an overlay path the applied image cannot take,
// naming the overlay, the path and the image, with the overlay block's
// source line.
func TestPlanLayoutConflict(t *testing.T) {
	e := newCLIEnv(t)
	if code, out, errs := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	e.commit(map[string]string{"overlays/generic/sbin/init/x": "x\n"}, "a directory over the image's /sbin/init")
	code, out, errs := e.run("plan")
	if code != 1 || out != "" {
		t.Errorf("plan: exit %d, want 1; stdout %q", code, out)
	}
	for _, want := range []string{"is invalid", "overlay generic", "/sbin/init", "image rocky", "main.hcl line 17", `overlay "generic" {`} {
		if !strings.Contains(errs, want) {
			t.Errorf("plan's diagnostics lack %q:\n%s", want, errs)
		}
	}
}
