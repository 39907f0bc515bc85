package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/diagfmt"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// TestValidateInvalid runs `gitboot validate --json` on every repository in
// hclspec/testdata/invalid and compares the exit status and each
// diagnostic's severity, file:line:column and summary with its expected file.
func TestValidateInvalid(t *testing.T) {
	dirs, err := filepath.Glob("../../hclspec/testdata/invalid/*")
	if err != nil || len(dirs) < 25 {
		t.Fatalf("want at least 25 invalid repositories, found %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		abs, _ := filepath.Abs(dir)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Chdir(abs)
			var stdout, stderr bytes.Buffer
			code := runWith([]string{"validate", "--json", "."}, &stdout, &stderr)
			var res diagfmt.Validate
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("output is not JSON: %v\n%s%s", err, stdout.String(), stderr.String())
			}
			var got strings.Builder
			fmt.Fprintf(&got, "exit %d\n", code)
			for _, d := range res.Diagnostics {
				loc := "-"
				if d.Range != nil {
					loc = fmt.Sprintf("%s:%d:%d", d.Range.Filename, d.Range.Start.Line, d.Range.Start.Column)
				}
				fmt.Fprintf(&got, "%s %s: %s\n", d.Severity, loc, d.Summary)
			}
			golden := filepath.Join(abs, "expected")
			if *update {
				if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("validate %s:\ngot:\n%s\nwant:\n%s\nhuman output:\n%s", dir, got.String(), want, humanOutput(t))
			}
			if code != 1 || res.Valid || res.ErrorCount == 0 {
				t.Errorf("an invalid repository must exit 1 with errors; got exit %d valid=%v errors=%d", code, res.Valid, res.ErrorCount)
			}
		})
	}
}

func humanOutput(t *testing.T) string {
	var stdout, stderr bytes.Buffer
	runWith([]string{"validate", "."}, &stdout, &stderr)
	return stdout.String() + stderr.String()
}

// TestValidateHumanOutput checks the terraform-like text form: the summary,
// "on FILE line N", the source line, the detail, every diagnostic.
func TestValidateHumanOutput(t *testing.T) {
	t.Chdir("../../hclspec/testdata/invalid/unknown_image_ref")
	var stdout, stderr bytes.Buffer
	if code := runWith([]string{"validate"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	out := stderr.String()
	for _, want := range []string{
		"Error: Reference to undeclared image",
		"on main.hcl line 20, in profile \"compute\":",
		"20:   image            = image.rocky8",
		`Did you mean "image.rocky9"?`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
