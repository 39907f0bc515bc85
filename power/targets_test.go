package power

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
)

func writeCreds(t *testing.T, src string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bmc.hcl")
	if err := os.WriteFile(p, []byte(src), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func diagLines(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		loc := "-"
		if d.Subject != nil && d.Subject.Start.Line > 0 {
			loc = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		out = append(out, fmt.Sprintf("%s %s: %s: %s", sev, loc, d.Summary, d.Detail))
	}
	return out
}

func TestLoadCredentials(t *testing.T) {
	p := writeCreds(t, `
credentials "rack1" {
  username = "admin"
  password = "s3cret"
}
credentials "rack2" {
  username = "root"
  password = ""
}
`, 0o600)
	creds, diags := LoadCredentials(p)
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diagLines(diags))
	}
	if len(creds) != 2 || creds["rack1"] != (Cred{"admin", "s3cret"}) || creds["rack2"] != (Cred{"root", ""}) {
		t.Errorf("credentials: %#v", creds)
	}
	if s := fmt.Sprintf("%v %#v %+v", creds["rack1"], creds["rack1"], creds["rack1"]); strings.Contains(s, "s3cret") {
		t.Errorf("a Cred prints its password: %s", s)
	}
}

func TestLoadCredentialsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		mode      os.FileMode
		want      string
	}{
		{"missing password", "credentials \"a\" {\n  username = \"u\"\n}\n", 0o600, `error 1:17: Missing required argument: The argument "password" is required`},
		{"duplicate", "credentials \"a\" {\n  username = \"u\"\n  password = \"p\"\n}\ncredentials \"a\" {\n  username = \"v\"\n  password = \"q\"\n}\n", 0o600,
			`error 5:13: Duplicate credentials: credentials "a" are defined twice; the first definition is at line 1.`},
		{"unknown attribute", "credentials \"a\" {\n  username = \"u\"\n  password = \"p\"\n  passwd = \"x\"\n}\n", 0o600, `error 4:3: Unsupported argument`},
		{"not a string", "credentials \"a\" {\n  username = [\"u\"]\n  password = \"p\"\n}\n", 0o600, `error 2:14: Invalid username: username of credentials "a" must be a literal string.`},
		{"a variable", "credentials \"a\" {\n  username = \"u\"\n  password = var.pw\n}\n", 0o600, `error 3:14: Invalid password`},
		{"empty username", "credentials \"a\" {\n  username = \"\"\n  password = \"p\"\n}\n", 0o600, `error 2:14: Empty username`},
		{"no label", "credentials {\n  username = \"u\"\n  password = \"p\"\n}\n", 0o600, `error 1:13: Missing name for credentials`},
		{"syntax", "credentials \"a\" {\n  username = \"u\n}\n", 0o600, `error 2:`},
		{"readable by others", "credentials \"a\" {\n  username = \"u\"\n  password = \"p\"\n}\n", 0o644, `warning -: BMC credentials file readable by others`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeCreds(t, tc.src, tc.mode)
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			creds, diags := LoadCredentials(p)
			lines := diagLines(diags)
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, tc.want) }) {
				t.Errorf("diagnostics:\n%s\nwant one starting %q", strings.Join(lines, "\n"), tc.want)
			}
			if diags.HasErrors() && creds != nil {
				t.Errorf("credentials returned despite errors: %v", creds)
			}
			for _, l := range lines {
				if strings.Contains(l, `"p"`) || strings.Contains(l, "= p") {
					t.Errorf("a diagnostic shows the password: %s", l)
				}
			}
		})
	}
	if _, diags := LoadCredentials(filepath.Join(t.TempDir(), "none.hcl")); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "Cannot read") {
		t.Errorf("a missing file: %v", diagLines(diags))
	}
}

const clusterHCL = `
network "n" {
  subnet = "10.99.0.0/24"
}
image "i" {
  source = "/images/i"
}
profile "compute" {
  image = image.i
  tags  = { role = "compute" }
  bmc {
    driver      = "ipmi"
    credentials = "rack1"
  }
}
node "c" {
  for_each = { c01 = 1, c02 = 2, c03 = 3 }
  mac      = format("52:54:00:00:00:%02x", each.value)
  ip       = cidrhost("10.99.0.0/24", 10 + each.value)
  profiles = [profile.compute]
  tags     = { rack = each.value == 3 ? "r2" : "r1" }
  bmc {
    address = cidrhost("10.98.0.0/24", each.value)
  }
}
node "gpu1" {
  mac   = "52:54:00:00:01:01"
  ip    = "10.99.0.50"
  image = image.i
  tags  = { role = "gpu", rack = "r2" }
  bmc {
    driver      = "redfish"
    address     = "10.98.1.1"
    credentials = "rack9"
  }
}
node "nobmc" {
  mac   = "52:54:00:00:02:01"
  ip    = "10.99.0.60"
  image = image.i
  tags  = { role = "compute", rack = "r1" }
}
`

func loadCluster(t *testing.T) *hclspec.Cluster {
	t.Helper()
	c, diags := hclspec.Load(fstest.MapFS{"main.hcl": {Data: []byte(clusterHCL)}}, hclspec.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return c
}

func TestSelect(t *testing.T) {
	c := loadCluster(t)
	creds := map[string]Cred{"rack1": {"admin", "pw"}}
	names := func(ts []Target) string {
		var out []string
		for _, tg := range ts {
			s := tg.Node
			if tg.Err != nil {
				s += "!"
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name    string
		sel     Selection
		want    string
		wantErr string
	}{
		{"all", Selection{All: true}, "c01 c02 c03 gpu1!", ""},
		{"names, sorted, once", Selection{Names: []string{"c03", "c01", "c03"}}, "c01 c03", ""},
		{"tag", Selection{Tags: map[string]string{"rack": "r2"}}, "c03 gpu1!", ""},
		{"two tags", Selection{All: true, Tags: map[string]string{"rack": "r1", "role": "compute"}}, "c01 c02", ""},
		{"names and a tag", Selection{Names: []string{"c01", "c03"}, Tags: map[string]string{"rack": "r2"}}, "c03", ""},
		{"unknown node", Selection{Names: []string{"c01", "c99"}}, "", "no such node: c99"},
		{"no bmc", Selection{Names: []string{"nobmc"}}, "", "no bmc block: nobmc"},
		{"matches nothing", Selection{Tags: map[string]string{"role": "storage"}}, "", "no node with a bmc block matches --tag role=storage"},
		{"nothing asked", Selection{}, "", "no nodes selected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := Select(c, creds, tc.sel)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(ts); got != tc.want {
				t.Errorf("selected %q, want %q", got, tc.want)
			}
		})
	}
	ts, _ := Select(c, creds, Selection{Names: []string{"c02", "gpu1"}})
	if ts[0].Cred != creds["rack1"] || ts[0].BMC.Address != "10.98.0.2" || ts[0].BMC.Port != 623 {
		t.Errorf("c02's target: %+v", ts[0])
	}
	if ts[1].Err == nil || !strings.Contains(ts[1].Err.Error(), `credentials "rack9" are not in the credentials file`) {
		t.Errorf("gpu1's target error: %v", ts[1].Err)
	}
}

func TestCheckCredentials(t *testing.T) {
	c := loadCluster(t)
	lines := diagLines(CheckCredentials(c, map[string]Cred{"rack1": {"a", "b"}}))
	want := []string{`error 34:19: Unknown BMC credentials: The bmc of node "gpu1" names credentials "rack9", which the BMC credentials file does not define. The file defines "rack1".`}
	if !slices.Equal(lines, want) {
		t.Errorf("diagnostics:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	lines = diagLines(CheckCredentials(c, nil))
	want = []string{
		`error 13:19: Unknown BMC credentials: The bmc of nodes "c01", "c02", "c03" names credentials "rack1", which the BMC credentials file does not define. The file defines none.`,
		`error 34:19: Unknown BMC credentials: The bmc of node "gpu1" names credentials "rack9", which the BMC credentials file does not define. The file defines none.`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("diagnostics:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
