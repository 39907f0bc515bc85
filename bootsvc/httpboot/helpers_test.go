package httpboot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// needTools skips the test when a command it drives is missing (never
// under CI, where .ci/run installs them).
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// makeCPIO builds a real gzip'd newc cpio archive of files (path ->
// content) with find, cpio and gzip, and returns it as an Artifact.
func makeCPIO(t testing.TB, dir, name string, files map[string]string) bootsvc.Artifact {
	t.Helper()
	needTools(t, "cpio", "gzip", "find")
	tree := filepath.Join(dir, name+".tree")
	for p, content := range files {
		full := filepath.Join(tree, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("sh", "-c", "find . | cpio --quiet -o -H newc | gzip -n > "+out)
	cmd.Dir = tree
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making %s: %v: %s", name, err, b)
	}
	return fileArtifact(t, out, name)
}

// fileArtifact describes an existing file as an Artifact.
func fileArtifact(t testing.TB, path, name string) bootsvc.Artifact {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return bootsvc.Artifact{Path: path, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(b)), Name: name}
}

// testEnv is a running httpboot server on a loopback port.
type testEnv struct {
	h     *Handler
	store *status.Store
	base  string // http://127.0.0.1:PORT
	admin string // the admin listener: http://127.0.0.1:PORT
	port  int
	log   *netnstest.SyncBuffer
	dir   string
}

// listen binds a loopback port for a server.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// start serves h on ln until the test ends.
func start(t testing.TB, h *Handler, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
}

// labNodes returns two nodes with real cpio artifacts: c001 at 127.0.0.1
// and c002 at 127.0.0.2.
func labNodes(t testing.TB, dir string) []bootsvc.Node {
	t.Helper()
	kernel := filepath.Join(dir, "vmlinuz")
	os.WriteFile(kernel, bytes.Repeat([]byte("KERNEL"), 50000), 0o644)
	arts := bootsvc.Artifacts{
		Kernel:  fileArtifact(t, kernel, "vmlinuz"),
		Image:   makeCPIO(t, dir, "image.img.gz", map[string]string{"sbin/init": "#!/bin/sh\n", "etc/os-release": "ID=test\n"}),
		System:  makeCPIO(t, dir, "system.img.gz", map[string]string{"init": "#!/bin/sh\nexec /sbin/init\n"}),
		Runtime: makeCPIO(t, dir, "runtime.img.gz", map[string]string{"etc/munge/munge.key": "secret"}),
	}
	return []bootsvc.Node{
		{Name: "c001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("127.0.0.1"), Network: "lo",
			KernelArgs: []string{"quiet", "console=ttyS0"}, Artifacts: arts},
		{Name: "c002", MAC: "52:54:00:00:00:02", IP: netip.MustParseAddr("127.0.0.2"), Network: "lo",
			Artifacts: arts},
	}
}

// newEnv starts a server with labNodes; edit tweaks the server block.
func newEnv(t testing.TB, cfg Config, edit func(*bootsvc.Server, []bootsvc.Node)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	ln := listen(t)
	port := ln.Addr().(*net.TCPAddr).Port
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("127.0.0.1"), HTTPPort: port, RuntimeInterval: time.Minute}
	nodes := labNodes(t, dir)
	if edit != nil {
		edit(&srv, nodes)
	}
	nets := []bootsvc.Network{{Name: "lo", Subnet: netip.MustParsePrefix("127.0.0.0/8")}}
	snap := bootsvc.NewSnapshot(srv, nets, nodes, "abc123")
	logs := &netnstest.SyncBuffer{}
	cfg.Snapshot = snap
	if cfg.Status == nil {
		cfg.Status = status.NewMemory()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := New(cfg)
	start(t, h, ln)
	return &testEnv{h: h, store: cfg.Status, base: srv.HTTPBase(), admin: startAdmin(t, h, ""), port: port, log: logs, dir: dir}
}

// startAdmin serves h's admin listener with token on a loopback port
// until the test ends and returns its base URL.
func startAdmin(t testing.TB, h *Handler, token string) string {
	t.Helper()
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeAdmin(ctx, ln, token) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeAdmin: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("ServeAdmin did not return after cancel")
		}
	})
	return "http://" + ln.Addr().String()
}

// curl runs curl with args and returns stdout; it fails the test on a
// non-zero exit.
func curl(t testing.TB, args ...string) []byte {
	t.Helper()
	needTools(t, "curl")
	var out, errb bytes.Buffer
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "60"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %v: %v: %s", args, err, errb.String())
	}
	return out.Bytes()
}

// code returns the HTTP status curl saw for args.
func curlCode(t testing.TB, args ...string) string {
	t.Helper()
	return strings.TrimSpace(string(curl(t, append([]string{"-o", "/dev/null", "-w", "%{http_code}"}, args...)...)))
}

// report fetches GET /status.
func (e *testEnv) report(t testing.TB) *status.Report {
	t.Helper()
	resp, err := http.Get(e.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep status.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// rawRequest sends req verbatim on a new connection and returns the status
// line of the answer ("" if the server closed without one).
func rawRequest(t testing.TB, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, b, 12)
	line, _, _ := strings.Cut(string(b[:n]), "\r\n")
	return line
}

// newSnap is snap with other nodes.
func newSnap(snap *bootsvc.Snapshot, nodes []bootsvc.Node) *bootsvc.Snapshot {
	return bootsvc.NewSnapshot(snap.Server, append([]bootsvc.Network(nil), snap.Networks...), nodes, snap.Commit)
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}
