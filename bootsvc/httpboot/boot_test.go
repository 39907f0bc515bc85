package httpboot

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// cpioList lists a downloaded .img.gz with gzip and cpio -it.
func cpioList(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "gzip -dc < "+path+" | cpio --quiet -it").Output()
	if err != nil {
		t.Fatalf("cpio -it %s: %v", path, err)
	}
	names := strings.Fields(string(out))
	sort.Strings(names)
	return names
}

// TestBootOverLoopback is a node's HTTP boot as iPXE does it, with curl:
// the script, then every URL it names, in order; the status records each
// stage with its SENT name.
func TestBootOverLoopback(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	script := curl(t, "-A", "iPXE/1.21", e.base+"/ipxe/52:54:00:00:00:01")
	want, _ := AppendScript(nil, e.h.Snapshot(), "52:54:00:00:00:01")
	if !bytes.Equal(script, want) {
		t.Fatalf("script over the wire differs from AppendScript:\n%s", script)
	}
	if r, _ := e.store.Node("c001"); r.Stage != status.StageIPXE {
		t.Fatalf("after the script: %+v", r)
	}

	urls := regexp.MustCompile(`(?m)^(?:kernel|initrd) --name (\w+) (\S+)`).FindAllStringSubmatch(string(script), -1)
	if len(urls) != 4 {
		t.Fatalf("script names %d files, want 4:\n%s", len(urls), script)
	}
	stages := map[string]status.Stage{"kernel": status.StageKernel, "image": status.StageImage, "system": status.StageSystemOverlay, "runtime": status.StageRuntimeOverlay}
	node, _ := e.h.Snapshot().NodeByName("c001")
	arts := map[string]bootsvc.Artifact{"kernel": node.Artifacts.Kernel, "image": node.Artifacts.Image, "system": node.Artifacts.System, "runtime": node.Artifacts.Runtime}
	wantFiles := map[string][]string{
		"image":   {".", "etc", "etc/os-release", "sbin", "sbin/init"},
		"system":  {".", "init"},
		"runtime": {".", "etc", "etc/munge", "etc/munge/munge.key"},
	}
	for _, u := range urls {
		name, url := u[1], u[2]
		out := filepath.Join(t.TempDir(), name)
		curl(t, "-f", "-A", "iPXE/1.21", "-o", out, url)
		got, _ := os.ReadFile(out)
		orig, _ := os.ReadFile(arts[name].Path)
		if name == "runtime" {
			// Wrapped in a cpio archive: /runtime-initrd/.
			got = unwrapInitrd(t, got)
			os.WriteFile(out, got, 0o644)
		}
		if !bytes.Equal(got, orig) {
			t.Fatalf("%s: downloaded %d bytes differ from the artifact (%d bytes)", name, len(got), len(orig))
		}
		if w, ok := wantFiles[name]; ok {
			if l := cpioList(t, out); strings.Join(l, " ") != strings.Join(w, " ") {
				t.Errorf("%s lists %v, want %v", name, l, w)
			}
		}
		r, _ := e.store.Node("c001")
		if r.Stage != stages[name] || r.Sent != arts[name].Name || r.Addr.String() != "127.0.0.1" {
			t.Fatalf("after %s: stage %s sent %q addr %s", name, r.Stage, r.Sent, r.Addr)
		}
	}

	rep := e.report(t)
	if len(rep.Nodes) != 2 || rep.Nodes[0].Name != "c001" || rep.Nodes[0].Stage != status.StageRuntimeOverlay ||
		rep.Nodes[0].Sent != "runtime.img.gz" || rep.Nodes[1].Stage != "" || rep.IntervalSeconds != 60 || rep.Server != "head" {
		t.Fatalf("GET /status: %+v", rep)
	}
}

func TestArtifactHTTPFeatures(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	node, _ := e.h.Snapshot().NodeByName("c001")
	img := node.Artifacts.Image
	orig, _ := os.ReadFile(img.Path)
	url := e.base + "/image/52-54-00-00-00-01" // dashes: accepted too

	// Range with curl -r.
	part := curl(t, "-f", "-r", "10-109", url)
	if !bytes.Equal(part, orig[10:110]) {
		t.Fatalf("curl -r 10-109: got %d bytes, not the file's 10..109", len(part))
	}
	tail := curl(t, "-f", "-r", "-7", url)
	if !bytes.Equal(tail, orig[len(orig)-7:]) {
		t.Fatal("curl -r -7: not the file's last 7 bytes")
	}

	// HEAD: length and ETag, no body.
	resp, err := http.Head(e.base + "/image/52:54:00:00:00:01")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != img.Size || resp.Header.Get("Etag") != strconv.Quote(img.Digest) ||
		resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("HEAD: %d len %d etag %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Etag"))
	}

	// If-None-Match with the digest: 304, nothing sent.
	if c := curlCode(t, "-H", "If-None-Match: "+strconv.Quote(img.Digest), url); c != "304" {
		t.Fatalf("If-None-Match: %s, want 304", c)
	}
	if c := curlCode(t, "-H", `If-None-Match: "sha256:other"`, url); c != "200" {
		t.Fatalf("If-None-Match other: %s, want 200", c)
	}
	// Upper case MAC.
	if c := curlCode(t, e.base+"/kernel/52:54:00:00:00:0A"); c != "404" {
		t.Fatalf("unknown upper-case MAC: %s, want 404", c)
	}
	if c := curlCode(t, e.base+"/ipxe/52-54-00-00-00-01"); c != "200" {
		t.Fatalf("dashes on /ipxe: %s", c)
	}
	// iPXE percent-encodes the colons of the URLs it is given.
	if got := curl(t, "-f", e.base+"/image/52%3A54%3A00%3A00%3A00%3A01"); !bytes.Equal(got, orig) {
		t.Fatal("percent-encoded MAC: not the image")
	}
}

func TestMissingArtifactIsNotFound(t *testing.T) {
	e := newEnv(t, Config{}, func(_ *bootsvc.Server, nodes []bootsvc.Node) {
		nodes[0].Artifacts.System = bootsvc.Artifact{} // never built
	})
	if c := curlCode(t, e.base+"/system/52:54:00:00:00:01"); c != "404" {
		t.Fatalf("unbuilt system overlay: %s, want 404", c)
	}
	r, _ := e.store.Node("c001")
	if r.Error == nil || r.Error.Stage != status.StageNotFound {
		t.Fatalf("not recorded as NOT_FOUND: %+v", r)
	}
	// A file gone from the store.
	node, _ := e.h.Snapshot().NodeByName("c001")
	os.Remove(node.Artifacts.Kernel.Path)
	if c := curlCode(t, e.base+"/kernel/52:54:00:00:00:01"); c != "404" {
		t.Fatalf("deleted kernel: %s, want 404", c)
	}
	r, _ = e.store.Node("c001")
	if r.Error == nil || r.Error.Stage != status.StageNotFound || r.Error.Sent != "vmlinuz" {
		t.Fatalf("not recorded as NOT_FOUND vmlinuz: %+v", r.Error)
	}
	if c := curlCode(t, e.base+"/extra/52:54:00:00:00:01/0"); c != "404" {
		t.Fatalf("extra beyond the list: %s, want 404", c)
	}
	if !strings.Contains(e.log.String(), "not found") {
		t.Error("no log line for the 404s")
	}
}

func TestUnknownMACIsDiscovered(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	script := string(curl(t, "-f", "-A", "iPXE/1.21", e.base+"/ipxe/52:54:00:AA:BB:CC"))
	for _, want := range []string{"52:54:00:aa:bb:cc", e.base, "sleep 60\nreboot\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("unknown-MAC script lacks %q:\n%s", want, script)
		}
	}
	rep := e.report(t)
	if len(rep.Unknown) != 1 || rep.Unknown[0].MAC != "52:54:00:aa:bb:cc" || rep.Unknown[0].Addr.String() != "127.0.0.1" {
		t.Fatalf("unknown MACs in /status: %+v", rep.Unknown)
	}
}

// TestSecureRuntime: with secure_runtime the runtime overlay goes only to
// the node's own address from a port < 1024. Loopback lets a test be
// several hosts: c001 is 127.0.0.1, c002 127.0.0.2.
func TestSecureRuntime(t *testing.T) {
	e := newEnv(t, Config{}, func(s *bootsvc.Server, _ []bootsvc.Node) { s.SecureRuntime = true })
	url1 := e.base + "/runtime/52:54:00:00:00:01"
	n1, _ := e.h.Snapshot().NodeByName("c001")
	digest1 := url1 + "/" + strings.TrimPrefix(n1.Artifacts.Runtime.Digest, "sha256:")
	if c := curlCode(t, digest1); c != "403" {
		t.Fatalf("unprivileged port, digest URL: %s, want 403", c)
	}
	if c := curlCode(t, url1); c != "403" {
		t.Fatalf("unprivileged port: %s, want 403", c)
	}
	r, _ := e.store.Node("c001")
	if r.Error == nil || r.Error.Stage != status.StageDenied {
		t.Fatalf("not recorded DENIED: %+v", r)
	}
	if !strings.Contains(e.log.String(), "runtime overlay refused") {
		t.Error("refusal not logged")
	}
	// Other artifacts are not restricted.
	if c := curlCode(t, e.base+"/system/52:54:00:00:00:01"); c != "200" {
		t.Fatalf("system overlay: %s", c)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root")
		}
		t.Skip("binding a port < 1024 needs root")
	}
	if c := curlCode(t, "--local-port", "700-799", url1); c != "200" {
		t.Fatalf("own address, privileged port: %s, want 200", c)
	}
	if c := curlCode(t, "--local-port", "700-799", digest1); c != "200" {
		t.Fatalf("own address, privileged port, digest URL: %s, want 200", c)
	}
	if r, _ := e.store.Node("c001"); r.Stage != status.StageRuntimeOverlay || r.Error != nil {
		t.Fatalf("after the allowed download: %+v", r)
	}
	// c002's overlay asked for from c001's address, privileged port: refused.
	url2 := e.base + "/runtime/52:54:00:00:00:02"
	if c := curlCode(t, "--local-port", "700-799", url2); c != "403" {
		t.Fatalf("another node's runtime: %s, want 403", c)
	}
	// From c002's own address.
	if c := curlCode(t, "--interface", "127.0.0.2", "--local-port", "700-799", url2); c != "200" {
		t.Fatalf("c002 from its own address: %s, want 200", c)
	}
	if c := curlCode(t, "--interface", "127.0.0.2", "--local-port", "700-799", digest1); c != "403" {
		t.Fatalf("c001's runtime by digest from c002: %s, want 403", c)
	}
}

func TestUpdateSwapsSnapshot(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	old := e.h.Snapshot()
	nodes := append([]bootsvc.Node(nil), old.Nodes...)
	nodes[0].KernelArgs = []string{"newarg"}
	e.h.Update(bootsvc.NewSnapshot(old.Server, old.Networks, nodes, "def456"))
	if s := string(curl(t, e.base+"/ipxe/52:54:00:00:00:01")); !strings.Contains(s, " newarg ") {
		t.Fatalf("new snapshot not served:\n%s", s)
	}
	if rep := e.report(t); rep.Commit != "def456" {
		t.Fatalf("status commit %q", rep.Commit)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	curl(t, "-f", e.base+"/ipxe/52:54:00:00:00:01")
	curl(t, "-f", "-o", "/dev/null", e.base+"/kernel/52:54:00:00:00:01")
	curlCode(t, e.base+"/nope")
	m := e.h.Metrics()
	m.DHCPReply("ACK")
	m.TFTPTransfer("ok", 1000)
	if s := string(curl(t, "-f", e.base+"/healthz")); s != "ok\n" {
		t.Fatalf("healthz: %q", s)
	}
	body := string(curl(t, "-f", e.admin+"/metrics"))
	node, _ := e.h.Snapshot().NodeByName("c001")
	for _, want := range []string{
		`gitboot_http_requests_total{code="200",route="ipxe"} 1`,
		`gitboot_http_requests_total{code="404",route="none"} 1`,
		`gitboot_http_response_bytes_total{code="200",route="kernel"} ` + strconv.FormatInt(node.Artifacts.Kernel.Size, 10),
		// c001's address asked for /nope: its pending error shows.
		`gitboot_nodes{stage="BAD_REQUEST"} 1`,
		`gitboot_nodes{stage="KERNEL"} 0`,
		`gitboot_dhcp_replies_total{type="ACK"} 1`,
		`gitboot_tftp_bytes_total 1000`,
		`gitboot_http_connections `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestHealthzWithoutSnapshot(t *testing.T) {
	h := New(Config{})
	ln := listen(t)
	start(t, h, ln)
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("healthz before a snapshot: %d", resp.StatusCode)
	}
}

// TestImports: bootsvc serves a snapshot; it never imports the model or
// the reconciler.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"/hclspec", "/reconcile"} {
			if strings.HasPrefix(dep, "github.com/gitboot/gitboot") && strings.Contains(dep, bad) {
				t.Errorf("httpboot depends on %s", dep)
			}
		}
	}
	if !strings.Contains(string(out), "github.com/gitboot/gitboot/bootsvc/status") {
		t.Fatalf("go list -deps output looks wrong:\n%s", out)
	}
}
