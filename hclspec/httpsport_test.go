package hclspec

import (
	"slices"
	"strings"
	"testing"
)

func TestHTTPSPort(t *testing.T) {
	withServer := func(attrs string) map[string]string {
		return map[string]string{"main.hcl": strings.Replace(baseHCL, `address = "10.99.0.1"`, "address = \"10.99.0.1\"\n"+attrs, 1)}
	}
	c := mustLoad(t, mapFS(withServer("")), Options{})
	if s := c.Servers[0]; s.HTTPSPort != DefaultHTTPSPort {
		t.Errorf("default https_port %d, want %d", s.HTTPSPort, DefaultHTTPSPort)
	}
	c = mustLoad(t, mapFS(withServer("https_port = 8443")), Options{})
	if s := c.Servers[0]; s.HTTPSPort != 8443 {
		t.Errorf("https_port %d, want 8443", s.HTTPSPort)
	}
	for _, tc := range []struct{ name, attrs, want string }{
		{"out of range", "https_port = 70000", "main.hcl:4:14: Port out of range"},
		{"zero", "https_port = 0", "main.hcl:4:14: Port out of range"},
		{"same as http", "http_port = 8080\nhttps_port = 8080", "main.hcl:5:14: Port in use"},
	} {
		_, diags := Load(mapFS(withServer(tc.attrs)), Options{})
		lines := errorLines(diags)
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, tc.want) }) {
			t.Errorf("%s: diagnostics:\n%s\nwant one starting %q", tc.name, strings.Join(lines, "\n"), tc.want)
		}
	}
}
