package artifact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

func overlayCluster(t testing.TB, system, runtime []string, n int) *testCluster {
	src := t.TempDir()
	write(t, filepath.Join(src, "boot/vmlinuz-1.0"), "kernel", 0o644)
	return &testCluster{
		fs:     repoFS(),
		images: []*hclspec.Image{{Name: "img", Source: src}},
		overlays: []*hclspec.Overlay{
			{Name: "generic", Source: "overlays/generic"},
			{Name: "secrets", Source: "overlays/secrets/"},
			{Name: "shared", Source: "overlays/shared"},
			{Name: "same", Source: "overlays/same"},
			{Name: "nodedep", Source: "overlays/nodedep"},
			{Name: "override", Source: "overlays/override"},
			{Name: "hosts", Builtin: "hosts"},
			{Name: "hostname", Builtin: "hostname"},
			{Name: "badparse", Source: "overlays/badparse"},
			{Name: "badexec", Source: "overlays/badexec"},
			{Name: "badindex", Source: "overlays/badindex"},
			{Name: "recursive", Source: "overlays/recursive"},
			{Name: "rangeint", Source: "overlays/rangeint"},
			{Name: "rangevar", Source: "overlays/rangevar"},
			{Name: "huge", Source: "overlays/huge"},
			{Name: "readfile", Source: "overlays/readfile"},
			{Name: "conflict", Source: "overlays/conflict"},
			{Name: "missing", Source: "overlays/missing"},
			{Name: "nobuiltin", Builtin: "nope"},
		},
		nodes: mkNodes(n, "img", system, runtime),
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOverlays(t *testing.T) {
	tc := overlayCluster(t, []string{"generic", "hosts", "hostname", "override"}, []string{"secrets"}, 3)
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	a := r.Nodes["n00001"]
	names := checkArchive(t, a.System.Path)
	if names[0] == "" || !strings.Contains(strings.Join(names, " "), "etc/network.conf") {
		t.Errorf("system overlay lists %v", names)
	}
	sys := unpack(t, a.System.Path)
	if got := readFile(t, filepath.Join(sys, "etc/network.conf")); got != "name=n00001\nip=10.99.1.2/16\nmask=255.255.0.0\ngw=10.99.0.1\nrole=compute\nargs=quiet console=ttyS0\nserver=http://10.99.0.1:9873\n" {
		t.Errorf("rendered template:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(sys, "etc/network.conf.tmpl")); err == nil {
		t.Error("the .tmpl file itself was shipped")
	}
	if got := readFile(t, filepath.Join(sys, "etc/hostname")); got != "n00001\n" {
		t.Errorf("hostname %q", got)
	}
	hosts := readFile(t, filepath.Join(sys, "etc/hosts"))
	for _, want := range []string{"127.0.0.1\tlocalhost", "10.99.1.1\tn00000.cluster.local n00000", "10.99.1.3\tn00002.cluster.local n00002"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	if got := readFile(t, filepath.Join(sys, "etc/motd")); got != "overridden\n" {
		t.Errorf("a later overlay must overwrite: motd %q", got)
	}
	for p, mode := range map[string]os.FileMode{"init": 0o755, "etc/systemd/system/gitboot-agent.service": 0o644, "usr/local/bin/hello": 0o755, "etc/network.conf": 0o640, "etc/motd": 0o600, "var/empty": os.ModeDir | 0o711} {
		info, err := os.Lstat(filepath.Join(sys, p))
		if err != nil {
			t.Error(err)
			continue
		}
		if info.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, info.Mode(), mode)
		}
	}
	if l, err := os.Readlink(filepath.Join(sys, "etc/localtime")); err != nil || l != "../usr/share/zoneinfo/UTC" {
		t.Errorf("symlink from the repository: %q %v", l, err)
	}
	if init := readFile(t, filepath.Join(sys, "init")); !strings.HasPrefix(init, "#!/bin/sh\n") || !strings.Contains(init, "gitboot init: ") {
		t.Errorf("gitboot's /init: %.200q", init)
	}
	rt := unpack(t, a.Runtime.Path)
	if got := readFile(t, filepath.Join(rt, "etc/munge/munge.key")); got != "secret" {
		t.Errorf("runtime overlay key %q", got)
	}
	// Same runtime content for every node: stored once.
	if r.Nodes["n00000"].Runtime.Digest != a.Runtime.Digest {
		t.Error("identical runtime overlays have different digests")
	}
	if r.Nodes["n00000"].System.Digest == a.System.Digest {
		t.Error("per-node system overlays share a digest")
	}
}

func TestOverlayEmptyAndShared(t *testing.T) {
	tc := overlayCluster(t, nil, nil, 4)
	r := mustBuild(t, newBuilder(t, t.TempDir()), tc.build())
	a := r.Nodes["n00000"]
	// gitboot's own init overlay: /init, the agent's systemd unit (and the
	// agent, once it is built in). The node's network comes on the kernel
	// command line, so nothing in it is per node.
	builtin := map[string]bool{"init": true, "etc/systemd/system/gitboot-agent.service": true, "usr/lib/gitboot/gitboot-agent": true,
		"etc": true, "etc/systemd": true, "etc/systemd/system": true, "usr": true, "usr/lib": true, "usr/lib/gitboot": true}
	names := checkArchive(t, a.System.Path)
	for _, n := range names {
		if !builtin[n] {
			t.Errorf("a system overlay with no overlays holds %s: %v", n, names)
		}
	}
	if !slices.Contains(names, "init") {
		t.Errorf("a system overlay with no overlays lacks init: %v", names)
	}
	if out := shell(t, "", "gzip -dc "+a.Runtime.Path+" | cpio -it --quiet"); out != "" {
		t.Errorf("empty runtime overlay lists %q", out)
	}
	// Nodes with the same overlays share one system and one runtime overlay.
	if r.Built != 2 || r.Reused != 0 {
		t.Errorf("4 nodes with identical overlays: built %d distinct artifacts, want 2", r.Built)
	}
}

// TestTemplateErrors: a bad template fails the whole build with the overlay
// file and line, and the committed state stays.
func TestTemplateErrors(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	good := overlayCluster(t, []string{"generic"}, nil, 2)
	prev := mustBuild(t, b, good.build())
	if err := b.Commit(prev); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		overlay string
		want    []string
	}{
		{"badparse", []string{"overlay badparse", "overlays/badparse/etc/x.tmpl:2"}},
		{"badexec", []string{"overlay badexec", "overlays/badexec/etc/y.tmpl:3", "Nope"}},
		{"badindex", []string{"overlays/badindex/etc/z.tmpl:1", "out of range"}},
		{"recursive", []string{"overlays/recursive/etc/r.tmpl", "not allowed"}},
		{"rangeint", []string{"overlays/rangeint/etc/r.tmpl:1", "range over a number"}},
		{"rangevar", []string{"overlays/rangevar/etc/r.tmpl:2", "range over a number"}},
		{"huge", []string{"overlays/huge/etc/h.tmpl", "larger than 64 MiB"}},
		{"readfile", []string{"overlays/readfile/etc/f.tmpl:1", `"readFile" not defined`}},
		{"conflict", []string{"overlay conflict", "both write etc/a"}},
		{"missing", []string{"overlay missing", "overlays/missing"}},
		{"nobuiltin", []string{"overlay nobuiltin", `no builtin overlay "nope"`}},
	} {
		t.Run(c.overlay, func(t *testing.T) {
			tc := overlayCluster(t, []string{"generic", c.overlay}, nil, 3)
			_, err := b.Build(context.Background(), tc.build(), "")
			if err == nil {
				t.Fatal("build succeeded")
			}
			var re *RepoError
			if !errors.As(err, &re) {
				t.Errorf("%v is not a RepoError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			cur, err := b.Current()
			if err != nil || cur.Manifest != prev.Manifest {
				t.Fatalf("current changed: %v", err)
			}
			for _, a := range cur.Nodes {
				if fileSHA(t, a.System.Path) != a.System.Digest {
					t.Fatal("previous artifact damaged")
				}
			}
		})
	}
}

// TestIncrementalOverlays: only what a change touches is rebuilt.
func TestIncrementalOverlays(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	tc := overlayCluster(t, []string{"generic", "nodedep"}, []string{"same"}, 20)
	r1 := mustBuild(t, b, tc.build())
	if r1.Built != 21 { // 20 system overlays + 1 shared runtime overlay
		t.Errorf("first build built %d, want 21", r1.Built)
	}
	r2 := mustBuild(t, b, tc.build())
	if r2.Built != 0 || r2.Manifest != r1.Manifest {
		t.Errorf("unchanged rebuild built %d", r2.Built)
	}
	// One node's IP: only its system overlay (its templates read .Node).
	tc.nodes[5].IP = tc.nodes[5].IP.Next().Next().Next()
	r3 := mustBuild(t, b, tc.build())
	if r3.Built != 1 {
		t.Errorf("one IP changed: built %d, want 1", r3.Built)
	}
	if r3.Nodes["n00005"].System.Digest == r1.Nodes["n00005"].System.Digest || r3.Nodes["n00004"].System.Digest != r1.Nodes["n00004"].System.Digest {
		t.Error("wrong nodes rebuilt")
	}
	// A template reading .Cluster: every node depends on all nodes, but the
	// template renders once. (As a runtime overlay: system overlays differ
	// by gitboot's node.conf.)
	tc.nodes[0].RuntimeOverlays = []string{"shared"}
	tc.nodes[1].RuntimeOverlays = []string{"shared"}
	r4 := mustBuild(t, b, tc.build())
	if r4.Nodes["n00000"].Runtime.Digest != r4.Nodes["n00001"].Runtime.Digest {
		t.Error("identical rendered overlays stored twice")
	}
	rt := unpack(t, r4.Nodes["n00000"].Runtime.Path)
	if got := readFile(t, filepath.Join(rt, "etc/cluster-size")); got != "20 nodes\n" {
		t.Errorf("cluster-size %q", got)
	}
	// A repository change to an overlay rebuilds everyone using it.
	fs := repoFS()
	fs["overlays/nodedep/etc/static"].Data = []byte("changed")
	tc.fs = fs
	r5 := mustBuild(t, b, tc.build())
	if r5.Built != 20 {
		t.Errorf("shared file changed: built %d, want 20", r5.Built)
	}
}

func TestTemplateDeps(t *testing.T) {
	for _, c := range []struct {
		text string
		want deps
	}{
		{"static", 0},
		{"{{.Node.Name}}", depNode},
		{"{{range .Cluster.Nodes}}{{.Name}}{{end}}", depCluster},
		{"{{with .Network}}{{.Gateway}}{{end}}{{.Server.URL}}", depNetwork | depServer},
		{"{{range .Cluster.Nodes}}{{$.Node.Name}}{{end}}", depCluster | depNode},
		{"{{$x := .}}{{$x.Node}}", depNodeAny},
		{"{{$x := .}}{{$x}}", depAll},
		{"{{.Node.Resources.fstab}}", depNodeRes},
		{"{{with .Node}}{{.Resources.fstab}}{{.Name}}{{end}}", depNodeRes | depNode},
		{"{{range .Cluster.Nodes}}{{.IP}} {{.Resources.role}}{{end}}", depCluster | depClusterRes},
		{"{{range $n := .Cluster.Nodes}}{{$n.Image}}{{end}}", depCluster | depClusterExtra},
		{"{{.Cluster.Nodes | toJson}}", depClusterAny},
		{"{{.Node.BMC.Address}}", depNodeExtra},
		{"{{range .Networks}}{{.Subnet}}{{end}}", depNetworks},
		{"{{if .Node.Tags.x}}{{end}}", depNode},
		{"{{toJson .Node}}", depNodeAny},
		{"{{printf \"%v\" .}}", depAll},
		{"{{range .Node.KernelArgs}}{{.}}{{end}}", depNode},
		{"{{if .Node.IP}}{{else}}{{.Network.Name}}{{end}}", depNode | depNetwork},
	} {
		_, d, err := parseTemplate("t", c.text)
		if err != nil || d != c.want {
			t.Errorf("%q: deps %b err %v, want %b", c.text, d, err, c.want)
		}
	}
}
