package httpboot

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// badPaths are request targets sent verbatim, with the status they get.
var badPaths = []struct {
	name, target, want string
}{
	{"traversal", "/image/../../etc/passwd", "400"},
	{"traversal-ipxe", "/ipxe/../status", "400"},
	{"traversal-encoded-dots", "/image/%2e%2e/%2e%2e/etc/passwd", "400"},
	{"traversal-encoded-slash", "/kernel/..%2f..%2fetc%2fpasswd", "400"},
	{"encoded-mac-bad", "/image/52%3a54%3a00%3a00%3a00%3a0g", "400"},
	{"encoded-slash-in-mac", "/image/52:54:00:00:00%2f01", "400"},
	{"double-encoded", "/runtime/%252e%252e%252fetc", "400"},
	{"dot-segment-root", "/../../etc/passwd", "404"},
	{"extra-traversal", "/extra/52:54:00:00:00:01/../../x", "400"},
	{"extra-bad-index", "/extra/52:54:00:00:00:01/007", "400"},
	{"mac-too-short", "/ipxe/52:54:00:00:00", "400"},
	{"mac-mixed-separators", "/ipxe/52:54-00:00:00:01", "400"},
	{"mac-not-hex", "/ipxe/52:54:00:00:00:zz", "400"},
	{"mac-trailing", "/ipxe/52:54:00:00:00:01/", "400"},
	{"mac-cisco-form", "/ipxe/5254.0000.0001", "400"},
	{"empty-mac", "/kernel/", "400"},
	{"root", "/", "404"},
	{"directory", "/image", "404"},
	{"status-subpath", "/status/x", "404"},
	{"unknown", "/etc/passwd", "404"},
	{"nul", "/ipxe/52:54:00:00:00:01%00", "400"},
	{"long-url", "/image/" + strings.Repeat("a", 10000), "400"},
	{"long-unknown", "/" + strings.Repeat("%2e%2e/", 1500), "404"},
	{"absolute-form", "http://127.0.0.1/../../etc/passwd", "404"},
	{"extra-no-index", "/extra/52:54:00:00:00:01", "400"},
	{"digest-short", "/kernel/52:54:00:00:00:01/" + strings.Repeat("a", 63), "400"},
	{"digest-long", "/image/52:54:00:00:00:01/" + strings.Repeat("a", 65), "400"},
	{"digest-upper", "/image/52:54:00:00:00:01/" + strings.Repeat("A", 64), "400"},
	{"digest-not-hex", "/system/52:54:00:00:00:01/" + strings.Repeat("g", 64), "400"},
	{"digest-with-prefix", "/system/52:54:00:00:00:01/sha256:" + strings.Repeat("a", 57), "400"},
	{"digest-empty", "/runtime/52:54:00:00:00:01/", "400"},
	{"digest-extra-segment", "/kernel/52:54:00:00:00:01/" + strings.Repeat("a", 64) + "/x", "400"},
	{"digest-trailing-slash", "/kernel/52:54:00:00:00:01/" + strings.Repeat("a", 64) + "/", "400"},
	{"digest-traversal", "/kernel/52:54:00:00:00:01/../" + strings.Repeat("a", 61), "400"},
	{"digest-on-ipxe", "/ipxe/52:54:00:00:00:01/" + strings.Repeat("a", 64), "400"},
	{"extra-digest-bad", "/extra/52:54:00:00:00:01/1/" + strings.Repeat("z", 64), "400"},
	{"extra-digest-extra", "/extra/52:54:00:00:00:01/1/" + strings.Repeat("a", 64) + "/2", "400"},
	{"runtime-initrd-digest-bad", "/runtime-initrd/52:54:00:00:00:01/" + strings.Repeat("a", 63), "400"},
	{"runtime-initrd-digest-extra", "/runtime-initrd/52:54:00:00:00:01/" + strings.Repeat("a", 64) + "/x", "400"},
	{"runtime-initrd-traversal", "/runtime-initrd/52:54:00:00:00:01/../../etc/passwd", "400"},
	{"runtime-initrd-no-slash", "/runtime-initrd52:54:00:00:00:01", "404"},
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	hostport := "127.0.0.1:" + strconv.Itoa(e.port)
	for _, tc := range badPaths {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.store.Errors())
			line := rawRequest(t, hostport, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(line, "HTTP/1.1 "+tc.want) {
				t.Fatalf("GET %.80s: %q, want %s", tc.target, line, tc.want)
			}
			// From 127.0.0.1 = c001: recorded on c001 as a pending error.
			r, _ := e.store.Node("c001")
			if r.Error == nil || r.Error.Stage != status.StageBadRequest {
				t.Fatalf("not recorded as BAD_REQUEST: %+v", r.Error)
			}
			if len(e.store.Errors()) != before {
				t.Fatal("attributed error also recorded as unattributed")
			}
		})
	}
	// From an address no node has: an unattributed error.
	needTools(t, "curl")
	if c := curlCode(t, "--path-as-is", "--interface", "127.0.0.9", e.base+"/image/../../etc/passwd"); c != "400" {
		t.Fatalf("curl --path-as-is traversal: %s", c)
	}
	errs := e.store.Errors()
	if len(errs) == 0 || errs[len(errs)-1].Stage != status.StageBadRequest || errs[len(errs)-1].Addr.String() != "127.0.0.9" {
		t.Fatalf("unattributed errors: %+v", errs)
	}
	// Logged at a bounded rate: every bad request is a line or counted as
	// suppressed, and the lines stop at the burst.
	if n := strings.Count(e.log.String(), "bad request"); n+int(e.h.bad.Suppressed()) < len(badPaths) || n > e.h.bad.Burst()+5 {
		t.Errorf("%d bad-request log lines and %d suppressed for %d bad requests (burst %d)", n, e.h.bad.Suppressed(), len(badPaths)+1, e.h.bad.Burst())
	}

	for _, tc := range []struct{ name, req, want string }{
		{"post", "POST /ipxe/52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "405"},
		{"get-with-body", "GET /ipxe/52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab", "400"},
		{"delete", "DELETE /ipxe/52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\n\r\n", "405"},
		{"operator-route", "DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		{"huge-url", "GET /" + strings.Repeat("x", 64<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", "431"},
		{"garbage", "\x00\x01\x02 nonsense\r\n\r\n", "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if line := rawRequest(t, hostport, tc.req); !strings.HasPrefix(line, "HTTP/1.1 "+tc.want) {
				t.Fatalf("%q, want %s", line, tc.want)
			}
		})
	}
	if c := curlCode(t, e.base+"/healthz"); c != "200" {
		t.Fatalf("server unhealthy after bad input: %s", c)
	}
}

// baseGoroutines is the goroutine count of a running, idle server (after
// one request, so that Serve's goroutines have surely started).
func baseGoroutines(t *testing.T, e *testEnv) int {
	t.Helper()
	if line := rawRequest(t, e.base[len("http://"):], "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("healthz: %q", line)
	}
	time.Sleep(100 * time.Millisecond)
	return runtime.NumGoroutine()
}

// waitGoroutines waits until the goroutine count is at most n, and fails
// after a generous deadline (a leak, not a slow machine).
func waitGoroutines(t *testing.T, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s: %d goroutines, want <= %d\n%s", what, runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowClients: a client that never finishes its headers and one that
// stops reading a large download are both dropped, and no goroutine stays.
func TestSlowClients(t *testing.T) {
	e := newEnv(t, Config{ReadHeaderTimeout: 300 * time.Millisecond, WriteIdleTimeout: 500 * time.Millisecond}, nil)
	big := filepath.Join(e.dir, "big")
	f, _ := os.Create(big)
	f.Truncate(64 << 20)
	f.Close()
	snap := e.h.Snapshot()
	nodes := append(snap.Nodes[:0:0], snap.Nodes...)
	nodes[0].Artifacts.Image = fileArtifact(t, big, "big.img.gz")
	e.h.Update(newSnap(snap, nodes))
	base := baseGoroutines(t, e)

	// Half a request line, then nothing.
	slow, err := net.Dial("tcp", e.base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /ipxe/52:54:")
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("slow header: connection not closed by the server: %v", err)
	}

	// A download the client stops reading.
	stuck, err := net.Dial("tcp", e.base[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	io.WriteString(stuck, "GET /image/52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(stuck)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download: %v %v", resp, err)
	}
	// Read nothing more: the server must give up on its own.
	waitGoroutines(t, base, "after a stalled download")
	stuck.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _ := io.Copy(io.Discard, resp.Body)
	if n >= 64<<20 {
		t.Fatal("the stalled download completed: the server never dropped it")
	}
}

// TestConnectionLimit opens far more connections than MaxConns at once
// (10,000 clients at the same time, file limit permitting):
// the server holds at most MaxConns, every client is eventually served,
// and nothing stays behind.
func TestConnectionLimit(t *testing.T) {
	const maxConns = 64
	clients := 10000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*clients+1000) {
		clients = int(lim.Cur/2) - 500 // both ends of each connection live in this process
		t.Logf("open-file limit %d: %d clients", lim.Cur, clients)
	}
	// ReadHeaderTimeout stays at its default: with 10,000 client goroutines on a
	// loaded machine a client may take seconds to send its request once
	// connected, and a shorter one closes it unanswered (EOF).
	e := newEnv(t, Config{MaxConns: maxConns, IdleTimeout: time.Second}, nil)
	addr := e.base[len("http://"):]
	base := baseGoroutines(t, e)

	// Idle connections that send nothing: only maxConns are accepted.
	var idle []net.Conn
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(200 * time.Millisecond)
	// Each accepted connection costs the server a goroutine or two.
	if g := runtime.NumGoroutine(); g > base+300+3*maxConns {
		t.Errorf("%d goroutines with 300 idle connections and MaxConns %d (base %d)", g, maxConns, base)
	}
	for _, c := range idle {
		c.Close()
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	fails, why := 0, map[string]int{}
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(e.base + "/ipxe/52:54:00:00:00:01")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != 200 {
				mu.Lock()
				fails++
				if err != nil {
					why[err.Error()]++
				} else {
					why[resp.Status]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	tr.CloseIdleConnections()
	if fails > 0 {
		t.Fatalf("%d of %d concurrent clients failed (%+v): %v", fails, clients, e.h.ConnStats(), why)
	}
	waitGoroutines(t, base, "after the clients left")
}

// FuzzParsePath feeds arbitrary paths to the router and the handler: no
// panic, only the documented codes, and no traversal ever reaches a file.
func FuzzParsePath(f *testing.F) {
	for _, tc := range badPaths {
		f.Add(tc.target)
	}
	for _, s := range []string{"/ipxe/52:54:00:00:00:01", "/image/52-54-00-00-00-01", "/extra/52:54:00:00:00:01/1",
		"/status", "/metrics", "/healthz", "/runtime/AA:BB:CC:DD:EE:FF", "/kernel/%41",
		"/kernel/52:54:00:00:00:01/" + strings.Repeat("0", 64), "/extra/52:54:00:00:00:02/1/" + strings.Repeat("f", 64),
		"/image/52-54-00-00-00-01/" + strings.Repeat("ab", 32)} {
		f.Add(s)
	}
	// The golden snapshot's artifacts by digest, so the fuzzer starts from
	// URLs that are served.
	snap := goldenSnapshot()
	for _, n := range snap.Nodes {
		s, _ := AppendScript(nil, snap, n.MAC)
		for _, u := range regexp.MustCompile(`/(?:kernel|image|extra|system|runtime)/\S+`).FindAllString(string(s), -1) {
			f.Add(u)
		}
	}
	h := New(Config{Snapshot: snap, Status: status.NewMemory(), Logger: discardLogger()})
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.NewRequest("GET", "http://x"+target, nil)
		if err != nil {
			return
		}
		p := parsePath(req.URL.Path, req.URL.RawPath)
		if p.route != routeNone && p.route != routeStatus && p.route != routeMetrics && p.route != routeHealthz && p.route != routeUI && p.route != routeEvents {
			if len(p.mac) != 17 || strings.ToLower(p.mac) != p.mac || strings.Contains(req.URL.Path, "..") {
				t.Fatalf("%q routed to %s with mac %q", target, p.route, p.mac)
			}
		}
		if p.digest != "" && (!isDigestHex(p.digest) || p.route == routeIPXE || !strings.HasSuffix(req.URL.Path, "/"+p.digest)) {
			t.Fatalf("%q routed to %s with digest %q", target, p.route, p.digest)
		}
		if p.bad && p.why == "" {
			t.Fatalf("%q: 400 without a reason", target)
		}
		if p.route == routeNone && p.mac != "" {
			t.Fatalf("%q: no route but a MAC", target)
		}
		req.RemoteAddr = "10.99.0.50:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 405, 503:
		default:
			t.Fatalf("%q: status %d", target, w.Code)
		}
		if w.Code == 200 && p.route == routeNone {
			t.Fatalf("%q: 200 without a route", target)
		}
	})
}

// TestShutdownWithDownloadInFlight: cancelling Serve's context with a
// stalled download in flight returns after ShutdownTimeout, closes the
// connection and leaves no goroutine behind.
func TestShutdownWithDownloadInFlight(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	f, _ := os.Create(big)
	f.Truncate(64 << 20)
	f.Close()
	ln := listen(t)
	port := ln.Addr().(*net.TCPAddr).Port
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("127.0.0.1"), HTTPPort: port}
	node := bootsvc.Node{Name: "c001", MAC: "52:54:00:00:00:01", Artifacts: bootsvc.Artifacts{Image: fileArtifact(t, big, "big")}}
	h := New(Config{Snapshot: bootsvc.NewSnapshot(srv, nil, []bootsvc.Node{node}, ""), Logger: discardLogger(),
		ShutdownTimeout: 200 * time.Millisecond, WriteIdleTimeout: time.Hour})
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /image/52:54:00:00:00:01 HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download: %v %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return with a download in flight")
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, _ := io.Copy(io.Discard, resp.Body); n >= 64<<20 {
		t.Fatal("download completed: connection not closed at shutdown")
	}
	waitGoroutines(t, base, "after shutdown")
}
