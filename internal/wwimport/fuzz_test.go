package wwimport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/internal/hclfmt"
)

// FuzzImport runs the importer on arbitrary nodes.conf text: it must never
// panic, fail only with a ReadError for input it cannot read, and write
// HCL that parses and is formatted.
func FuzzImport(f *testing.F) {
	for _, s := range []string{
		"nodes:\n  n1:\n    network devices:\n      default: {hwaddr: 52:54:00:00:00:01, ipaddr: 10.0.0.5, netmask: 255.255.255.0}\n    image name: img\n",
		"nodeprofiles:\n  p:\n    profiles: [p, ~q]\n    tags: {\"a b\": x, DNS1: 1}\n    kernel: {args: quiet splash}\nnodes:\n  n1: {profiles: [p]}\n",
		"nodes:\n  n01: {image name: i, ipmi: {ipaddr: bmc.example, username: u, password: \"p\\\"w\"}, network devices: {default: {hwaddr: 02-00-00-00-00-01, ipaddr: 10.1.0.1, netmask: \"16\"}}}\n",
		"nodes:\n  n1:\n    network devices:\n      default: {hwaddr: 52:54:00:00:00:01, ipaddr: 10.0.0.5, netmask: 255.0.255.0}\n",
		"- a\n", "nodes: 3\n", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "nodes.conf")
		if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		_, err := Run(Config{NodesConf: p, Out: out})
		if err != nil {
			var re *ReadError
			if !errors.As(err, &re) {
				t.Fatalf("import failed without a ReadError: %v", err)
			}
			return
		}
		for name, data := range readTree(t, out) {
			if !strings.HasSuffix(name, ".hcl") {
				continue
			}
			if ok, diags := hclfmt.IsFormatted(data, name); !ok {
				t.Fatalf("%s does not parse or is not formatted: %v\n%s", name, diags, data)
			}
		}
	})
}
