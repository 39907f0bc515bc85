package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gitboot/gitboot/internal/diagfmt"
)

// buildRepoHCL is a repository hclspec accepts; the tests below add
// overlay files the server's build would refuse.
const buildRepoHCL = `
server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet = "10.99.0.0/24"
}

image "rocky9" {
  source = "/var/lib/gitboot/images/rocky9"
}

overlay "generic" {
  source = "overlays/generic"
}

profile "compute" {
  image            = image.rocky9
  network          = network.cluster
  runtime_overlays = [overlay.generic]
  tags             = { role = "compute" }
}

node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
  tags     = { rack = "r1" }
}
`

// buildRepo writes a repository: main.hcl (buildRepoHCL unless files has
// one) plus files, under dir/repo. A file whose content is "FIFO" is made
// a named pipe.
func buildRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	all := map[string]string{"main.hcl": buildRepoHCL, "overlays/generic/etc/motd": "welcome\n"}
	for k, v := range files {
		all[k] = v
	}
	for name, data := range all {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if data == "FIFO" {
			err = syscall.Mkfifo(p, 0o644)
		} else {
			err = os.WriteFile(p, []byte(data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

// validateJSON runs `gitboot validate --json DIR` from DIR's parent, so
// file names in diagnostics start with "repo/".
func validateJSON(t *testing.T, repo string) (int, diagfmt.Validate, string) {
	t.Helper()
	t.Chdir(filepath.Dir(repo))
	var stdout, stderr bytes.Buffer
	code := runWith([]string{"validate", "--json", filepath.Base(repo)}, &stdout, &stderr)
	var res diagfmt.Validate
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var human bytes.Buffer
	runWith([]string{"validate", filepath.Base(repo)}, &human, &human)
	return code, res, human.String()
}

// TestValidateBuildRules: every overlay problem the server's build refuses
// is a validate error naming the file (and template line), so a
// pre-receive hook never accepts a commit the server then rejects.
func TestValidateBuildRules(t *testing.T) {
	for _, c := range []struct {
		name    string
		files   map[string]string
		file    string // want the diagnostic here (under repo/)
		line    int
		summary string
		detail  string
	}{
		{"range over a number", map[string]string{"overlays/generic/etc/x.tmpl": "ok\n{{range 1000000000000}}x{{end}}\n"},
			"overlays/generic/etc/x.tmpl", 2, "Overlay template error", "range over a number is not allowed"},
		{"range over a number in a variable", map[string]string{"overlays/generic/etc/x.tmpl": "{{$n := 5}}\n\n{{range $n}}x{{end}}\n"},
			"overlays/generic/etc/x.tmpl", 3, "Overlay template error", "range over a number is not allowed"},
		{"fails for some nodes", map[string]string{"overlays/generic/etc/rack.tmpl": "{{if not .Node.Tags.rack}}{{fail \"no rack tag\"}}{{end}}rack={{.Node.Tags.rack}}\n"},
			"overlays/generic/etc/rack.tmpl", 1, "Overlay template error", `node c001: overlay generic: template: overlays/generic/etc/rack.tmpl:1:28: executing "overlays/generic/etc/rack.tmpl" at <fail "no rack tag">: error calling fail: no rack tag`},
		// Field names are checked when the template is parsed, for every
		// node at once.
		{"unknown field", map[string]string{"overlays/generic/etc/x.tmpl": "\n\n{{.Node.Hostname}}\n"},
			"overlays/generic/etc/x.tmpl", 3, "Template error", "can't evaluate field Hostname in type TemplateNode"},
		{"misspelt field", map[string]string{"overlays/generic/etc/x.tmpl": "{{if .Node.Tags.x}}x{{end}}\n{{range .Cluster.Nodes}}\n{{.Nmae}}{{end}}\n"},
			"overlays/generic/etc/x.tmpl", 3, "Template error", "can't evaluate field Nmae in type TemplateNode (its fields: Name, "},
		{"template action", map[string]string{"overlays/generic/etc/x.tmpl": "{{template \"x\"}}\n"},
			"overlays/generic/etc/x.tmpl", 1, "Template error", "{{template}} is not allowed"},
		{"output over 64 MiB", map[string]string{"overlays/generic/etc/x.tmpl": strings.Repeat("{{range $.Cluster.Nodes}}", 7) + "{{printf \"%0999999d\" 0}}" + strings.Repeat("{{end}}", 7)},
			"overlays/generic/etc/x.tmpl", 1, "Overlay template error", "output larger than 64 MiB"},
		{"two files write one name", map[string]string{"overlays/generic/etc/motd.tmpl": "hi {{.Node.Name}}\n"},
			"overlays/generic/etc/motd.tmpl", 1, "Overlay error", "both write etc/motd"},
		{"a named pipe", map[string]string{"overlays/generic/run/pipe": "FIFO"},
			"overlays/generic/run/pipe", 1, "Overlay error", "unsupported file type"},
		{"a file block that matches nothing", map[string]string{"main.hcl": strings.Replace(buildRepoHCL, `source = "overlays/generic"`,
			"source = \"overlays/generic\"\n  file \"etc/*/motd\" { mode = \"0400\" }", 1)},
			"main.hcl", 16, "Overlay error", `file "etc/*/motd" matches no file or directory of the overlay`},
		{"one of two servers", map[string]string{
			"servers.hcl":                 "server \"backup\" {\n  address = \"10.99.0.2\"\n}\n",
			"overlays/generic/etc/s.tmpl": "{{if ne .Server.Name \"head\"}}\n{{fail \"not head\"}}{{end}}\n"},
			"overlays/generic/etc/s.tmpl", 2, "Overlay template error", "not head"},
	} {
		t.Run(c.name, func(t *testing.T) {
			repo := buildRepo(t, c.files)
			code, res, human := validateJSON(t, repo)
			if code != 1 || res.Valid || res.ErrorCount != 1 || len(res.Diagnostics) != 1 {
				t.Fatalf("exit %d, valid %v, %d errors; want exit 1 and one error:\n%s", code, res.Valid, res.ErrorCount, human)
			}
			d := res.Diagnostics[0]
			if d.Range == nil || d.Range.Filename != "repo/"+c.file || d.Range.Start.Line != c.line {
				t.Errorf("diagnostic at %+v, want repo/%s line %d:\n%s", d.Range, c.file, c.line, human)
			}
			if d.Summary != c.summary || !strings.Contains(d.Detail, c.detail) {
				t.Errorf("%s: %s\nwant %s containing %q", d.Summary, d.Detail, c.summary, c.detail)
			}
			if want := "on repo/" + c.file; !strings.Contains(human, want) {
				t.Errorf("human output lacks %q:\n%s", want, human)
			}
		})
	}
}

// TestValidateBuildRulesPass: a repository whose templates render for
// every node validates, and so do the examples.
func TestValidateBuildRulesPass(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	repo := buildRepo(t, map[string]string{
		"overlays/generic/etc/hostname.tmpl": "{{.Node.Name}}\n",
		"overlays/generic/etc/rack.tmpl":     "{{with index .Node.Tags \"rack\"}}rack={{.}}{{end}}\n",
		// c001 has no rack tag: it renders empty.
		"overlays/generic/etc/rack2.tmpl": "{{if .Node.Tags.rack}}rack={{.Node.Tags.rack}}{{end}}{{.Node.Tags.rack | default \"none\"}}\n",
		"overlays/generic/etc/hosts.tmpl": "{{range .Cluster.Nodes}}{{.IP}} {{.Name}}\n{{end}}",
	})
	if code, res, human := validateJSON(t, repo); code != 0 || !res.Valid {
		t.Fatalf("exit %d:\n%s", code, human)
	}
	for _, dir := range []string{"lab", "site1000"} {
		if code, res, human := validateJSON(t, filepath.Join(examples, dir)); code != 0 || !res.Valid {
			t.Errorf("examples/%s: exit %d:\n%s", dir, code, human)
		}
	}
}
