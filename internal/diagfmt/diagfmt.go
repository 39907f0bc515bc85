// Package diagfmt prints hcl diagnostics at the edge, for cmd/gitboot: as
// text the way terraform does (summary, "on FILE line N", the snippet with
// the value underlined, the detail) and as terraform's validate -json
// shape. Nothing else formats diagnostics: they travel intact to here.
package diagfmt

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/term"
)

// Write prints diagnostics the way terraform does: the summary,
// "on FILE line N", the source snippet with the value underlined, the detail.
func Write(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	width, color := 0, false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		width, _, _ = term.GetSize(int(f.Fd()))
		color = os.Getenv("NO_COLOR") == ""
	}
	tw := hcl.NewDiagnosticTextWriter(w, files, uint(width), color)
	for _, d := range diags {
		_ = tw.WriteDiagnostic(d)
	}
}

// jsonDiagnostic is terraform's `validate -json` diagnostic shape.
type jsonDiagnostic struct {
	Severity string       `json:"severity"`
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail"`
	Range    *jsonRange   `json:"range,omitempty"`
	Snippet  *jsonSnippet `json:"snippet,omitempty"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonSnippet struct {
	Context              *string         `json:"context"`
	Code                 string          `json:"code"`
	StartLine            int             `json:"start_line"`
	HighlightStartOffset int             `json:"highlight_start_offset"`
	HighlightEndOffset   int             `json:"highlight_end_offset"`
	Values               []jsonExprValue `json:"values"`
}

type jsonExprValue struct {
	Traversal string `json:"traversal"`
	Statement string `json:"statement"`
}

type Validate struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []jsonDiagnostic `json:"diagnostics"`
}

func JSON(files map[string]*hcl.File, diags hcl.Diagnostics) Validate {
	out := Validate{FormatVersion: "1.0", Diagnostics: []jsonDiagnostic{}}
	for _, d := range diags {
		jd := jsonDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if d.Subject != nil {
			r := *d.Subject
			jd.Range = &jsonRange{Filename: r.Filename,
				Start: jsonPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:   jsonPos{r.End.Line, r.End.Column, r.End.Byte}}
			jd.Snippet = snippet(files, d)
		}
		out.Diagnostics = append(out.Diagnostics, jd)
	}
	out.Valid = out.ErrorCount == 0
	return out
}

// snippet extracts the source lines of the diagnostic's subject.
func snippet(files map[string]*hcl.File, d *hcl.Diagnostic) *jsonSnippet {
	f := files[d.Subject.Filename]
	if f == nil || f.Bytes == nil {
		return nil
	}
	src := f.Bytes
	r := *d.Subject
	lines := bytes.Split(src, []byte("\n"))
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return nil
	}
	endLine := r.End.Line
	if endLine < r.Start.Line || endLine > len(lines) {
		endLine = r.Start.Line
	}
	code := string(bytes.Join(lines[r.Start.Line-1:endLine], []byte("\n")))
	lineStart := 0
	for i := 0; i < r.Start.Line-1; i++ {
		lineStart += len(lines[i]) + 1
	}
	s := &jsonSnippet{Code: code, StartLine: r.Start.Line, Values: []jsonExprValue{}}
	s.HighlightStartOffset = clamp(r.Start.Byte-lineStart, 0, len(code))
	s.HighlightEndOffset = clamp(r.End.Byte-lineStart, s.HighlightStartOffset, len(code))
	s.Values = exprValues(d)
	return s
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// exprValues describes the values of the references in the diagnostic's
// expression, like terraform ("var.x" is "foo").
func exprValues(d *hcl.Diagnostic) []jsonExprValue {
	out := []jsonExprValue{}
	if d.Expression == nil || d.EvalContext == nil {
		return out
	}
	seen := map[string]bool{}
	for _, tr := range d.Expression.Variables() {
		name := traversalString(tr)
		if seen[name] {
			continue
		}
		seen[name] = true
		v, diags := tr.TraverseAbs(d.EvalContext)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			continue
		}
		out = append(out, jsonExprValue{Traversal: name, Statement: describeValue(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Traversal < out[j].Traversal })
	return out
}

func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			b.WriteString("[" + describeKey(s.Key) + "]")
		}
	}
	return b.String()
}

func describeValue(v cty.Value) string {
	switch {
	case v.IsNull():
		return "is null"
	case v.Type() == cty.String:
		j, _ := json.Marshal(v.AsString())
		return "is " + string(j)
	case v.Type() == cty.Number:
		return "is " + v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		if v.True() {
			return "is true"
		}
		return "is false"
	default:
		return "is " + v.Type().FriendlyName()
	}
}

func describeKey(k cty.Value) string {
	switch {
	case k.IsNull() || !k.IsKnown():
		return "?"
	case k.Type() == cty.String:
		j, _ := json.Marshal(k.AsString())
		return string(j)
	case k.Type() == cty.Number:
		return k.AsBigFloat().Text('f', -1)
	}
	return "?"
}

// WithSources returns files plus the overlay files diags point at (those
// artifact.Check reports: templates and other files that are not HCL), so
// the printed diagnostic shows the offending line. It sets the byte
// offsets of those diagnostics' ranges, which the snippet needs.
func WithSources(fsys fs.FS, prefix string, files map[string]*hcl.File, diags hcl.Diagnostics) map[string]*hcl.File {
	out := make(map[string]*hcl.File, len(files))
	maps.Copy(out, files)
	for _, d := range diags {
		r := d.Subject
		if r == nil || out[r.Filename] != nil {
			continue
		}
		name := r.Filename
		if prefix != "" {
			var ok bool
			if name, ok = strings.CutPrefix(name, prefix+"/"); !ok {
				continue
			}
		}
		st, err := fs.Stat(fsys, name)
		if err != nil || !st.Mode().IsRegular() || st.Size() > 1<<20 {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		out[r.Filename] = &hcl.File{Bytes: src}
		r.Start.Byte = byteOffset(src, r.Start)
		r.End.Byte = min(byteOffset(src, r.End), len(src))
		if r.End.Byte < r.Start.Byte {
			r.End.Byte = r.Start.Byte
		}
	}
	return out
}

// byteOffset finds a line and column (both from 1) in src, clamped to the
// line's end.
func byteOffset(src []byte, p hcl.Pos) int {
	off := 0
	for line := 1; line < p.Line; line++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	end := len(src)
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		end = off + i
	}
	return min(off+max(p.Column-1, 0), end)
}
