package hclspec

import (
	"fmt"
	"strings"
	"testing"
)

func TestHostlistForEach(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": baseHCL + `
profile "compute" {
  image = image.rocky9
}

node "n" {
  for_each = { for i, name in hostlist("n[001-003],gpu[7-8]") : name => i }
  mac      = format("52:54:00:00:02:%02x", each.value + 1)
  ip       = cidrhost("10.99.0.0/24", 20 + each.value)
  profiles = [profile.compute]
}
`}), Options{})
	var got []string
	for _, n := range c.Nodes {
		got = append(got, n.Name+"="+n.IP.String())
	}
	want := "[gpu7=10.99.0.23 gpu8=10.99.0.24 n001=10.99.0.20 n002=10.99.0.21 n003=10.99.0.22]"
	if fmt.Sprint(got) != want {
		t.Errorf("nodes %v, want %s", got, want)
	}
}

func TestHostlistBadRange(t *testing.T) {
	_, diags := Load(mapFS(map[string]string{"main.hcl": baseHCL + `
locals {
  names = hostlist("n[9-1]")
}
`}), Options{})
	if !diags.HasErrors() {
		t.Fatal("a backwards range loaded")
	}
	d := diags[0]
	if !strings.Contains(d.Detail, "runs backwards") || d.Subject == nil || d.Subject.Start.Line != 28 {
		t.Fatalf("diagnostic %v at %v, want the range's error on line 28", d, d.Subject)
	}
}
