package hclfmt

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.golden from the current output")

// TestFormatGolden formats each testdata/format/NAME.in and compares the
// result with NAME.golden. Every output must also parse, be a fixed point
// and mean what the input meant (same tokens apart from whitespace).
func TestFormatGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/format/*.in")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			src := readFile(t, in)
			got, diags := Format(src, name+".in")
			if diags.HasErrors() {
				t.Fatalf("Format: %s", diags.Error())
			}
			golden := strings.TrimSuffix(in, ".in") + ".golden"
			if *update {
				writeFile(t, golden, got)
			}
			if want := readFile(t, golden); !bytes.Equal(got, want) {
				t.Errorf("Format(%s):\n%s\nwant:\n%s\ndiff:\n%s", in, got, want, Unified("want", "got", want, got))
			}
			checkFormatted(t, src, got)
		})
	}
}

// TestFormatErrors checks that unparseable inputs give nil output and the
// parser's diagnostics, with the positions in testdata/errors/NAME.golden.
func TestFormatErrors(t *testing.T) {
	inputs, err := filepath.Glob("testdata/errors/*.in")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			got, diags := Format(readFile(t, in), name+".in")
			if !diags.HasErrors() {
				t.Fatalf("Format(%s) = %q, want a parse error", in, got)
			}
			if got != nil {
				t.Errorf("Format(%s) returned %q with errors, want nil", in, got)
			}
			text := []byte(diagLines(diags))
			golden := strings.TrimSuffix(in, ".in") + ".golden"
			if *update {
				writeFile(t, golden, text)
			}
			if want := readFile(t, golden); !bytes.Equal(text, want) {
				t.Errorf("diagnostics of %s:\n%s\nwant:\n%s", in, text, want)
			}
			ok, diags := IsFormatted(readFile(t, in), name+".in")
			if ok || !diags.HasErrors() {
				t.Errorf("IsFormatted(%s) = %v, %v; want false with errors", in, ok, diags)
			}
		})
	}
}

func TestIsFormatted(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want bool
	}{
		{"canonical", "a = 1\n", true},
		{"empty", "", true},
		{"spacing", "a=1\n", false},
		{"no final newline", "a = 1", false},
		{"extra final newline", "a = 1\n\n", false},
		{"crlf", "a = 1\r\n", false},
		{"unaligned", "a = 1\nbb = 2\n", false},
		{"aligned", "a  = 1\nbb = 2\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := IsFormatted([]byte(tc.src), "t.hcl")
			if diags.HasErrors() {
				t.Fatalf("IsFormatted(%q): %s", tc.src, diags.Error())
			}
			if got != tc.want {
				t.Errorf("IsFormatted(%q) = %v, want %v", tc.src, got, tc.want)
			}
		})
	}
}

// FuzzFormat feeds arbitrary bytes to Format: it must not panic, must
// return either diagnostics or output, and output must parse, mean the same
// and be a fixed point.
func FuzzFormat(f *testing.F) {
	for _, pattern := range []string{"testdata/format/*.in", "testdata/errors/*.in", "../../examples/*/*.hcl"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out, diags := Format(src, "fuzz.hcl")
		if diags.HasErrors() {
			if out != nil {
				t.Fatalf("output %q together with errors", out)
			}
			for _, d := range diags {
				if d.Subject == nil {
					t.Fatalf("diagnostic without a range: %s", d.Error())
				}
			}
			return
		}
		checkFormatted(t, src, out)
	})
}

// checkFormatted asserts that out, the formatting of src, parses, is a
// fixed point of Format and has the same tokens as src.
func checkFormatted(t *testing.T, src, out []byte) {
	t.Helper()
	again, diags := Format(out, "formatted.hcl")
	if diags.HasErrors() {
		t.Fatalf("formatted output does not parse: %s\n%q", diags.Error(), out)
	}
	if !bytes.Equal(again, out) {
		t.Fatalf("not idempotent:\nonce:  %q\ntwice: %q", out, again)
	}
	if a, b := tokenText(t, toLF(src)), tokenText(t, out); a != b {
		t.Fatalf("formatting changed tokens:\nbefore: %s\nafter:  %s", a, b)
	}
}

// tokenText is the source's tokens without whitespace, newlines or the
// trailing whitespace inside comments: what formatting must preserve.
func tokenText(t *testing.T, src []byte) string {
	t.Helper()
	toks, diags := hclsyntax.LexConfig(src, "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("lexing %q: %s", src, diags.Error())
	}
	var b strings.Builder
	for _, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenEOF:
			continue
		case hclsyntax.TokenComment:
			b.WriteString(strings.TrimRight(string(tok.Bytes), " \t\r\n"))
		default:
			b.Write(tok.Bytes)
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// diagLines renders diagnostics one a line as FILE:LINE:COL: SUMMARY: DETAIL.
func diagLines(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		r := d.Subject
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", r.Filename, r.Start.Line, r.Start.Column, d.Summary, d.Detail)
	}
	return b.String()
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
