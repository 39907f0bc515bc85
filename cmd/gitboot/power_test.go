package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bmcCluster is cliCluster with a bmc block on c001.
var bmcCluster = strings.Replace(cliCluster, "  runtime_overlays = [overlay.generic]\n",
	"  runtime_overlays = [overlay.generic]\n  tags             = { rack = \"r1\" }\n  bmc {\n    driver      = \"ipmi\"\n    address     = \"127.0.0.1\"\n    port        = 1\n    credentials = \"rack1\"\n  }\n", 1)

func writeCredsFile(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		b.WriteString("credentials \"" + n + "\" {\n  username = \"admin\"\n  password = \"pw\"\n}\n")
	}
	p := filepath.Join(t.TempDir(), "bmc.hcl")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlanChecksBMCCredentials: plan and validate with --bmc-credentials
// refuse a credentials name the file lacks, naming the node and the line;
// without the flag they say the names were not checked.
func TestPlanChecksBMCCredentials(t *testing.T) {
	e := newCLIEnv(t)
	e.commit(map[string]string{"main.hcl": bmcCluster}, "a bmc")
	code, out, errs := e.run("plan")
	if code != 0 || !strings.Contains(errs, "BMC credentials names not checked") || !strings.Contains(out, `bmc.address`) {
		t.Errorf("plan without --bmc-credentials: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = e.run("plan", "--bmc-credentials", writeCredsFile(t, "rack2"))
	if code != 1 || !strings.Contains(errs, "Unknown BMC credentials") || !strings.Contains(errs, `node "c001" names credentials "rack1"`) ||
		!strings.Contains(errs, "on main.hcl line 32") || !strings.Contains(errs, `The file defines "rack2"`) {
		t.Errorf("plan with a file lacking rack1: exit %d, want 1\n%s%s", code, out, errs)
	}
	if code, out, errs := e.run("plan", "--bmc-credentials", writeCredsFile(t, "rack1")); code != 0 || strings.Contains(errs, "BMC") {
		t.Errorf("plan with rack1 defined: exit %d\n%s%s", code, out, errs)
	}
	var o, eb bytes.Buffer
	if code := runWith([]string{"validate", e.repo, "--var", "image=x", "--bmc-credentials", writeCredsFile(t, "rack2")}, &o, &eb); code != 1 || !strings.Contains(eb.String(), `node "c001" names credentials "rack1"`) {
		t.Errorf("validate with a file lacking rack1: exit %d\n%s%s", code, o.String(), eb.String())
	}
	o.Reset()
	eb.Reset()
	if code := runWith([]string{"validate", e.repo, "--var", "image=x"}, &o, &eb); code != 0 || !strings.Contains(eb.String(), "BMC credentials not checked") {
		t.Errorf("validate without the flag: exit %d\n%s%s", code, o.String(), eb.String())
	}
}

// TestPowerCLI: flag and selection errors, and a node whose credentials
// the file lacks fails in the table (exit 1) without any BMC contacted.
func TestPowerCLI(t *testing.T) {
	e := newCLIEnv(t)
	e.commit(map[string]string{"main.hcl": bmcCluster}, "a bmc")
	power := func(args ...string) (int, string, string) {
		var o, eb bytes.Buffer
		code := runWith(append([]string{"power"}, append(args, "--repo", e.repo, "--var", "image="+e.image)...), &o, &eb)
		return code, o.String(), eb.String()
	}
	other := writeCredsFile(t, "rack2")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"boot", "c001"}, `unknown power action "boot"`},
		{[]string{"status"}, "name nodes, or give --all or --tag KEY=VALUE"},
		{[]string{"status", "c001"}, "--bmc-credentials FILE is needed without --server"},
		{[]string{"status", "c009", "--bmc-credentials", other}, "no such node: c009"},
		{[]string{"status", "--tag", "rack", "--bmc-credentials", other}, `--tag "rack": expected KEY=VALUE`},
		{[]string{"status", "--tag", "rack=r9", "--bmc-credentials", other}, "no node with a bmc block matches --tag rack=r9"},
		{[]string{"status", "--all", "--parallel", "0", "--bmc-credentials", other}, "--parallel 0: must be 1 to"},
		{[]string{"status", "--all", "--server", "http://127.0.0.1:1", "--bmc-credentials", other}, "give it to `gitboot serve`"},
	} {
		code, out, errs := power(tc.args...)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("power %s: exit %d, want 1 and %q\n%s%s", strings.Join(tc.args, " "), code, tc.want, out, errs)
		}
	}
	code, out, errs := power("on", "--tag", "rack=r1", "--bmc-credentials", other)
	want := "NODE  POWER    RESULT\nc001  unknown  FAILED: credentials \"rack1\" are not in the credentials file\n"
	if code != 1 || out != want {
		t.Errorf("power on with rack1 missing: exit %d\n%s%s\nwant exit 1 and\n%s", code, out, errs, want)
	}
	code, out, _ = power("status", "--all", "--json", "--bmc-credentials", other)
	var doc struct {
		Action  string
		Failed  int
		Results []struct {
			Node, Power, Result string
			OK                  bool
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.Action != "status" || doc.Failed != 1 ||
		len(doc.Results) != 1 || doc.Results[0].Node != "c001" || doc.Results[0].OK || doc.Results[0].Power != "unknown" {
		t.Errorf("power status --all --json: exit %d %v\n%s", code, err, out)
	}
}
