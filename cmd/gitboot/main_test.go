package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpListsCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runWith([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d: %s", code, errb.String())
	}
	for _, cmd := range []string{"validate", "fmt", "plan", "apply", "serve", "status", "version"} {
		if !strings.Contains(out.String(), "\n  "+cmd+" ") {
			t.Errorf("--help does not list %s:\n%s", cmd, out.String())
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runWith([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("version exit %d", code)
	}
	if got := out.String(); !strings.HasPrefix(got, "gitboot "+version+" (commit "+commit+")") {
		t.Errorf("version printed %q", got)
	}
}

func TestServeNeedsRepo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runWith([]string{"serve"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "repo") {
		t.Errorf("serve without --repo: exit %d, %q", code, errb.String())
	}
	if code := runWith([]string{"serve", "--repo", t.TempDir(), "--state", t.TempDir()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "opening git repository") {
		t.Errorf("serve on a non-repository: exit %d, %q", code, errb.String())
	}
}
