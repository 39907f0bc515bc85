package wwimport

import (
	"strings"
	"testing"
)

func TestTranslateTemplate(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"node name", "host {{ .Id }} ({{.Hostname}})\n", "host {{ .Node.Name }} ({{.Node.Name}})\n"},
		{"tags and kernel args", `{{ .Tags.role }} {{ index .Tags "rack" }} {{ range .Kernel.Args }}{{ . }} {{ end }}`,
			`{{ .Node.Tags.role }} {{ index .Node.Tags "rack" }} {{ range .Node.KernelArgs }}{{ . }} {{ end }}`},
		{"all nodes", "{{range $n := .AllNodes}}{{$n.Id}} {{.Hostname}}\n{{end}}", "{{range $n := .Cluster.Nodes}}{{$n.Name}} {{.Name}}\n{{end}}"},
		{"netdevs by value", "{{range $_, $d := .NetDevs}}{{$d.Device}} {{$d.Hwaddr}} {{if $d.Ipaddr}}{{$d.Ipaddr}}{{end}}{{end}}",
			"{{range $_, $d := .Node.Interfaces}}{{$d.Name}} {{$d.MAC}} {{if $d.IP}}{{$d.IP}}{{end}}{{end}}"},
		{"server", "server={{.Ipaddr}} mask={{ .Netmask }} {{/* comment */}}{{ with .ThisNode }}{{ .Id }}{{ end }}",
			"server={{.Server.Address}} mask={{ .Network.Netmask }} {{/* comment */}}{{ with .Node }}{{ .Name }}{{ end }}"},
		{"eq and printf", `{{ if eq .Id "n1" }}{{ printf "%s-x" .Id | upper }}{{ end }}`, `{{ if eq .Node.Name "n1" }}{{ printf "%s-x" .Node.Name | upper }}{{ end }}`},
	} {
		got, netdevs, err := translateTemplate(tc.name, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if netdevs != strings.Contains(tc.in, ".NetDevs") {
			t.Errorf("%s: netdevs = %v", tc.name, netdevs)
		}
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestTranslateTemplateRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, why string }{
		{"include", `{{ Include "/etc/passwd" }}`, "calls Include"},
		{"include from", `{{ IncludeFrom .ImageName "/etc/group" }}`, "calls IncludeFrom"},
		{"file", `{{ file "x" }}`, "calls file"},
		{"unknown field", `{{ .BuildHost }}`, "reads .BuildHost"},
		{"netdev key", `{{ range $name, $d := .NetDevs }}{{ $name }}{{ end }}`, "a network device's name"},
		{"netmask of a device", `{{ range .NetDevs }}{{ .Netmask }}{{ end }}`, "reads .Netmask"},
		{"define", `{{ define "x" }}a{{ end }}{{ template "x" }}`, "defines templates"},
		{"bad syntax", `{{ if }}`, "does not parse"},
		{"sprig join order", `{{ join " " .Kernel.Args }}`, "calls join"},
	} {
		_, _, err := translateTemplate(tc.name, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.why)
		}
	}
}
