package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// TestServeRefusesServerPaths: gitboot serve, given --image-root, rejects
// pushed commits that name a server path outside its allowed directories
// (ipxe_dir = "/etc", an image source of /etc or /root, a symlink out of
// the image root, a ".." escape) with the diagnostic at the attribute,
// keeps serving the last good state (the same kernel over HTTP, the iPXE
// binary over TFTP), and never hands out the server's files over TFTP.
func TestServeRefusesServerPaths(t *testing.T) {
	netnstest.RequireCommands(t, "tftp")
	l := startGitOpsLab(t)
	imageRoot := filepath.Dir(l.image)
	if err := os.Symlink("/etc", filepath.Join(imageRoot, "escape")); err != nil {
		t.Fatal(err)
	}
	l.serve(t)
	ctx := context.Background()
	kernel := l.get("/kernel/" + n1MAC)
	if kernel == "" {
		t.Fatalf("no kernel served for n1\n%s", l.log.String())
	}
	ipxe, err := os.ReadFile("/usr/lib/ipxe/undionly.kpxe")
	if err != nil {
		t.Fatalf("the ipxe package is needed: %v", err)
	}
	tftpGet := func(name string) (string, []byte) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "got")
		o, _ := l.ns.Output(ctx, "tftp", "-m", "binary", "127.0.0.1", "-c", "get", name, out)
		data, _ := os.ReadFile(out)
		return string(o), data
	}
	stillServed := func(when string) {
		t.Helper()
		if got := l.get("/kernel/" + n1MAC); got != kernel {
			t.Errorf("%s: /kernel/n1 changed (%d bytes, want %d)", when, len(got), len(kernel))
		}
		if o, data := tftpGet("undionly.kpxe"); string(data) != string(ipxe) {
			t.Errorf("%s: tftp undionly.kpxe: %d bytes, want %d: %s", when, len(data), len(ipxe), o)
		}
		for _, name := range []string{"shadow", "/etc/shadow", "../../etc/passwd", "passwd"} {
			if o, data := tftpGet(name); len(data) != 0 || !strings.Contains(o, "Error code") {
				t.Errorf("%s: tftp get %s: %d bytes, %q; want a TFTP error", when, name, len(data), o)
			}
		}
	}
	stillServed("at start")

	cluster := filepath.Join(l.work, "cluster.hcl")
	const server = "networks = [network.cluster] # the networks whose nodes it boots"
	for _, tc := range []struct {
		name, old, new, at string
	}{
		{"ipxe_dir /etc", server, server + "\n  ipxe_dir = \"/etc\"", "cluster.hcl:16,14-20"},
		{"image /etc", "source = var.image_source", `source = "/etc"`, "cluster.hcl:41,12-18"},
		{"image /root", "source = var.image_source", `source = "/root"`, "cluster.hcl:41,12-19"},
		{"symlink out of the image root", "source = var.image_source", `source = "` + imageRoot + `/escape"`, "cluster.hcl:41,12-"},
		{"dot-dot", "source = var.image_source", `source = "` + imageRoot + `/../../../../../../../../etc"`, "cluster.hcl:41,12-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(l.log.String(), "commit rejected")
			l.commit(t, tc.name, func(work string) { editFile(t, cluster, tc.old, tc.new) })
			l.push(t, true, "main")
			l.waitFor(t, 60*time.Second, "the commit rejected", func() bool {
				return strings.Count(l.log.String(), "commit rejected") > before
			})
			log := l.log.String()
			if !strings.Contains(log, tc.at) || !strings.Contains(log, "is not inside a directory the server allows") {
				t.Errorf("the rejection does not name %s and why:\n%s", tc.at, log)
			}
			stillServed("after the rejection")
			editFile(t, cluster, tc.new, tc.old) // committed with the next case

		})
	}
}
