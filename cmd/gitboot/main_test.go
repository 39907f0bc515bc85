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

// Commands not built yet must fail loudly, never pretend to succeed.
func TestPlanApplyNeedARepository(t *testing.T) {
	for _, args := range [][]string{{"plan"}, {"apply", "--auto-approve"}} {
		cmd := args[0]
		var out, errb bytes.Buffer
		code := runWith(append(args, "--repo", t.TempDir(), "--state", t.TempDir()), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "opening git repository") {
			t.Errorf("%s outside a repository: exit %d, stderr %q; want exit 1 naming the repository", cmd, code, errb.String())
		}
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

// The per-client limits must be at least 1: 0 would refuse every client.
func TestServeRejectsZeroPerClientLimits(t *testing.T) {
	for _, flag := range []string{"--tftp-max-per-client", "--http-max-per-client"} {
		var out, errb bytes.Buffer
		code := runWith([]string{"serve", "--repo", t.TempDir(), "--state", t.TempDir(), flag, "0"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "must be at least 1") {
			t.Errorf("serve %s 0: exit %d, %q", flag, code, errb.String())
		}
	}
	var out bytes.Buffer
	if runWith([]string{"serve", "--help"}, &out, &out); !strings.Contains(out.String(), "--tftp-max-per-client int") ||
		!strings.Contains(out.String(), "--http-max-per-client int") {
		t.Errorf("serve --help does not list the per-client limits:\n%s", out.String())
	}
}
