package artifact

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

func renderText(t *testing.T, text string, data *TemplateData) (string, error) {
	t.Helper()
	tmpl, _, err := parseTemplate("t.tmpl", text)
	if err != nil {
		return "", err
	}
	out, err := render(tmpl, data)
	return string(out), err
}

func resourcesNode() *TemplateData {
	res := hclspec.Resources{
		"fstab": []any{map[string]any{"spec": "head:/home", "file": "/home", "vfstype": "nfs"}},
		"nfs":   map[string]any{"server": "head"},
		"gpus":  int64(2),
	}
	n := TemplateNode{Name: "c001", IP: "10.99.0.11", Tags: map[string]string{"role": "compute"},
		KernelArgs: []string{"quiet", "console=ttyS0"}, Resources: hclspec.FreezeResources(res)}
	return &TemplateData{Node: n, Cluster: TemplateCluster{Nodes: []TemplateNode{n}}}
}

// Missing map keys render empty: tags and resources alike, in {{if}}, in
// output and through functions; never "<no value>".
func TestTemplateMissingKeysEmpty(t *testing.T) {
	data := resourcesNode()
	for _, c := range []struct{ text, want string }{
		{`{{if .Node.Tags.x}}yes{{else}}no{{end}}`, "no"},
		{`{{if .Node.Tags.role}}yes{{else}}no{{end}}`, "yes"},
		{`[{{.Node.Tags.x}}]`, "[]"},
		{`[{{.Node.Resources.x}}]`, "[]"},
		{`{{if .Node.Resources.x}}yes{{else}}no{{end}}`, "no"},
		{`{{.Node.Tags.x | default "none"}}`, "none"},
		{`{{.Node.Resources.x | default "none"}}`, "none"},
		{`{{range .Node.Resources.x}}item{{else}}empty{{end}}`, "empty"},
		{`{{with .Node.Resources.nfs}}{{.server}}:{{.export}}{{end}}`, "head:"},
		{`{{.Node.Resources.gpus}}`, "2"},
		{`{{dig "nfs" "server" "-" .Node.Resources}} {{dig "nfs" "port" "2049" .Node.Resources}}`, "head 2049"},
		{`{{$x := .Node.Resources.nope}}[{{$x}}]`, "[]"},
	} {
		got, err := renderText(t, c.text, data)
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.text, got, err, c.want)
		}
	}
}

// A misspelt field is an error at parse, naming the file, line and column
// and the fields there are; so is a field of a field that is no struct.
func TestTemplateMisspeltField(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"ok\n{{.Node.Nmae}}\n", "t.tmpl:2:7: can't evaluate field Nmae in type TemplateNode (its fields: Name, "},
		{"{{range .Cluster.Nodes}}\n\n{{.Adress}}{{end}}", "t.tmpl:3:2: can't evaluate field Adress in type TemplateNode"},
		{"{{with .Server}}{{.URl}}{{end}}", "t.tmpl:1:18: can't evaluate field URl in type TemplateServer"},
		{"{{$n := .Node}}{{$n.Tagz}}", "can't evaluate field Tagz in type TemplateNode"},
		{"{{range $i, $n := .Node.Interfaces}}{{$n.Nam}}{{end}}", "can't evaluate field Nam in type TemplateInterface"},
		{"{{.Node.Name.First}}", "can't evaluate field First in type string"},
		{"{{.Nodes}}", "can't evaluate field Nodes in type TemplateData"},
	} {
		_, _, err := parseTemplate("t.tmpl", c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
	// What a function returns, or a resource, is not checked.
	for _, text := range []string{"{{(index .Cluster.Nodes 0).Name}}", "{{.Node.Resources.a.b}}", "{{with .Node.Resources.nfs}}{{.server}}{{end}}"} {
		if _, _, err := parseTemplate("t.tmpl", text); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
}

// Sprig's string, list, dict, math, default and encoding functions are
// there, with gitboot's join in both argument orders.
func TestTemplateSprigFunctions(t *testing.T) {
	data := resourcesNode()
	for _, c := range []struct{ text, want string }{
		{`{{join .Node.KernelArgs ","}}`, "quiet,console=ttyS0"},
		{`{{.Node.KernelArgs | join " "}}`, "quiet console=ttyS0"},
		{`{{"a b" | upper | replace " " "-"}}`, "A-B"},
		{`{{trim "  x "}}|{{"x" | quote}}|{{"ab" | trunc 1}}|{{"x" | indent 2}}`, `x|"x"|a|  x`},
		{`{{list 3 1 2 | toJson}}`, "[3,1,2]"},
		{`{{list "b" "a" | sortAlpha | join ","}}`, "a,b"},
		{`{{$d := dict "a" 1 "b" "x"}}{{$_ := set $d "c" true}}{{toJson $d}}`, `{"a":1,"b":"x","c":true}`},
		{`{{add 1 2}} {{mul 3 4}} {{sub 10 3}} {{div 9 2}} {{max 3 7 5}}`, "3 12 7 4 7"},
		{`{{range until 3}}{{.}}{{end}} {{seq 3}}`, "012 1 2 3"},
		{`{{"gitboot" | b64enc}} {{"Z2l0Ym9vdA==" | b64dec}}`, "Z2l0Ym9vdA== gitboot"},
		{`{{"x" | sha256sum | trunc 8}}`, "2d711642"},
		{`{{empty ""}} {{coalesce "" "b"}} {{ternary "y" "n" true}}`, "true b y"},
		{`{{.Node.Resources | toJson}}`, `{"fstab":[{"file":"/home","spec":"head:/home","vfstype":"nfs"}],"gpus":2,"nfs":{"server":"head"}}`},
		{`{{regexReplaceAll "[0-9]+" .Node.Name "N"}}`, "cN"},
		{`{{printf "%-6s|%3d" .Node.Name 7}}`, "c001  |  7"},
		{`{{base "/a/b.conf"}}`, "b.conf"},
	} {
		got, err := renderText(t, c.text, data)
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.text, got, err, c.want)
		}
	}
	// sortAlpha sorts a copy: the data stays as it was.
	if got := strings.Join(data.Node.KernelArgs, " "); got != "quiet console=ttyS0" {
		t.Errorf("sortAlpha changed the data: %q", got)
	}
}

// No function reads the environment, the clock, the network or
// randomness: they are not defined, so such a template is a parse error.
func TestTemplateFuncsNotThere(t *testing.T) {
	for _, fn := range []string{"env", "expandenv", "now", "date", "dateInZone", "ago", "toDate", "unixEpoch",
		"duration", "htmlDate", "randInt", "randAlphaNum", "randAlpha", "randAscii", "uuidv4", "genPrivateKey",
		"getHostByName", "readFile", "include", "tpl", "lookup"} {
		if _, ok := templateFuncs[fn]; ok {
			t.Errorf("%s is a template function", fn)
		}
		_, _, err := parseTemplate("t.tmpl", "{{"+fn+" \"x\"}}")
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q not defined", fn)) {
			t.Errorf("{{%s}}: %v", fn, err)
		}
	}
}

// The data's resources are shared by every node's render: set and unset
// refuse them, and a dict that would hold itself is refused.
func TestTemplateDataNotChanged(t *testing.T) {
	data := resourcesNode()
	for _, text := range []string{
		`{{$_ := set .Node.Resources "x" 1}}`,
		`{{$_ := unset .Node.Resources "gpus"}}`,
		`{{$_ := set .Node.Resources.nfs "server" "x"}}`,
		`{{$d := dict}}{{$_ := set $d "self" $d}}{{$d}}`,
		`{{$d := dict}}{{$_ := set $d "l" (list 1 (list $d))}}`,
	} {
		if got, err := renderText(t, text, data); err == nil {
			t.Errorf("%s rendered %q", text, got)
		}
	}
	if _, ok := data.Node.Resources["x"]; ok || data.Node.Resources["gpus"] != int64(2) || data.Node.Resources["nfs"].(hclspec.ResourceMap)["server"] != "head" {
		t.Errorf("resources changed: %v", data.Node.Resources)
	}
}

// Hostile templates fail with a clear error, within the time budget and
// without allocating more than a few hundred MiB.
func TestTemplateHostile(t *testing.T) {
	data := resourcesNode()
	for _, c := range []struct{ name, text, want string }{
		{"repeat", `{{repeat 1000000000 "x"}}`, "repeat: 1000000000"},
		{"repeat negative", `{{repeat -1 "x"}}`, "negative"},
		{"until", `{{range until 100000000}}{{end}}`, "until: 100000000 elements"},
		{"untilStep", `{{untilStep 0 1000000000 1}}`, "untilStep: 1000000000 elements"},
		{"seq", `{{seq 1 1 100000000}}`, "seq: 100000000 elements"},
		{"untilStep overflow", `{{untilStep -9000000000000000000 9000000000000000000 1}}`, "untilStep: 18000000000000000000 elements"},
		{"indent", `{{indent 100000000 "a\nb"}}`, "indent:"},
		{"nindent", `{{nindent 1000000000 "a"}}`, "nindent:"},
		{"printf widths", `{{printf (repeat 100 "%999999d") 1}}`, "printf: widths"},
		{"printf star", `{{printf "%*d" 1000000 1}}`, "'*' widths"},
		{"doubling string", `{{$s := "0123456789abcdef"}}{{range until 64}}{{$s = cat $s $s}}{{end}}{{len $s}}`, "produce more than 128 MiB"},
		{"doubling printf", `{{$s := "0123456789abcdef"}}{{range until 64}}{{$s = printf "%s%s" $s $s}}{{end}}`, "produce more than 128 MiB"},
		{"doubling list", `{{$l := list 1 2}}{{range until 64}}{{$l = concat $l $l}}{{end}}{{len $l}}`, "produce more than 128 MiB"},
		{"shared references", `{{$s := repeat 10000000 "x"}}{{$l := list}}{{range until 200}}{{$l = append $l $s}}{{end}}{{join "" $l}}`, "produce more than 128 MiB"},
		{"output", `{{$s := repeat 10000000 "x"}}{{range until 100}}{{$s}}{{end}}`, "larger than 64 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			got, err := renderText(t, c.text, data)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("rendered %d bytes, %v; want an error containing %q", len(got), err, c.want)
			}
			if d := time.Since(start); d >= renderTimeout {
				t.Errorf("took %s", d)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<30 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
		})
	}
}

// A render past its time is stopped also when its loop only calls
// functions (the account check after each call), and the goroutine ends.
func TestRenderFunctionLoopStops(t *testing.T) {
	old := renderTimeout
	renderTimeout = 200 * time.Millisecond
	defer func() { renderTimeout = old }()
	tmpl, _, err := parseTemplate("spin.tmpl", `{{range $i := until 1000000}}{{range $j := until 1000000}}{{$x := add $i $j}}{{end}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	_, err = render(tmpl, resourcesNode())
	if err == nil || !strings.Contains(err.Error(), "still running after") {
		t.Fatalf("render: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the timeout, %d before: the template still runs", n, before)
	}
}
