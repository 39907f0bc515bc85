package httpboot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// The runtime overlay of the secure tests: plain bytes, so that a test can
// tell whether any of them went out.
const secretOverlay = "SECRET-OVERLAY-munge.key-0123456789"

const (
	c001Key = "ASSET-TAG-c001"
	c001MAC = "52:54:00:00:00:01"
	c002MAC = "52:54:00:00:00:02"
)

func keySum(k string) string {
	s := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(s[:])
}

// testSecret is the server secret keying asset key digests in these tests.
var testSecret = []byte("test-secret-test-secret-test-sec")

// keyedSum is a key's digest as the inventory holds it: the HMAC-SHA256
// with the server's secret of its "sha256:<hex>".
func keyedSum(k string) string {
	m := hmac.New(sha256.New, testSecret)
	m.Write([]byte(keySum(k)))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// secureEnv is a handler (no socket) serving two nodes with
// secure_runtime: c001 at 10.99.0.11 with an asset key, c002 at
// 10.99.0.12 without.
type secureEnv struct {
	h     *Handler
	store *status.Store
	log   *netnstest.SyncBuffer
	snap  *bootsvc.Snapshot
	now   time.Time
}

func newSecureEnv(t *testing.T, secure bool) *secureEnv {
	t.Helper()
	dir := t.TempDir()
	art := func(name, content string) bootsvc.Artifact {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return fileArtifact(t, p, name)
	}
	arts := bootsvc.Artifacts{
		Kernel: art("vmlinuz", "KERNEL"), Image: art("image.img.gz", "IMAGE"),
		System: art("system.img.gz", "SYSTEM"), Runtime: art("runtime.img.gz", secretOverlay),
	}
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("10.99.0.1"), HTTPPort: 9873,
		RuntimeInterval: time.Minute, SecureRuntime: secure}
	nodes := []bootsvc.Node{
		{Name: "c001", MAC: c001MAC, IP: netip.MustParseAddr("10.99.0.11"), Network: "cluster", Artifacts: arts,
			AssetKeyDigest: keyedSum(c001Key)},
		{Name: "c002", MAC: c002MAC, IP: netip.MustParseAddr("10.99.0.12"), Network: "cluster", Artifacts: arts},
	}
	nets := []bootsvc.Network{{Name: "cluster", Subnet: netip.MustParsePrefix("10.99.0.0/24")}}
	e := &secureEnv{now: time.Unix(1_800_000_000, 0)}
	e.snap = bootsvc.NewSnapshot(srv, nets, nodes, "abc123")
	e.reset()
	return e
}

// reset starts a new handler on the same snapshot, with a new status
// store and log.
func (e *secureEnv) reset() {
	e.log = &netnstest.SyncBuffer{}
	e.store, _ = status.Open(status.Config{Now: func() time.Time { return e.now }})
	e.h = New(Config{Snapshot: e.snap, Status: e.store, Now: func() time.Time { return e.now }, AssetKeySecret: testSecret,
		Logger: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
}

// get serves one request from remote ("10.99.0.11:700") with headers
// (name, value pairs; a name may repeat).
func (e *secureEnv) get(method, path, remote string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func runtimeDigestPath(n *bootsvc.Node) string {
	return "/runtime/" + n.MAC + "/" + strings.TrimPrefix(n.Artifacts.Runtime.Digest, "sha256:")
}

// TestSecureRuntimeDecisions: with secure_runtime, a runtime overlay goes
// only to its node's own address, from a port < 1024, with the node's
// asset key when it has one. Everything else is 403, DENIED on the node
// (when asked from the node's own address; from another, nothing is
// recorded), logged with the reason (never the key), and no byte of the
// overlay, not even its size or ETag.
func TestSecureRuntimeDecisions(t *testing.T) {
	env := newSecureEnv(t, true)
	c001, _ := env.snap.NodeByName("c001")
	key := func(k string) []string { return []string{AssetKeyHeader, k} }
	for _, tc := range []secureCase{
		{name: "own address, port 700, right key", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key(c001Key), code: 200},
		{name: "port 1023 is privileged", path: "/runtime/" + c001MAC, remote: "10.99.0.11:1023", headers: key(c001Key), code: 200},
		{name: "digest URL, all right", path: runtimeDigestPath(c001), remote: "10.99.0.11:700", headers: key(c001Key), code: 200},
		{name: "HEAD, all right", method: "HEAD", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key(c001Key), code: 200},
		{name: "MAC with dashes", path: "/runtime/52-54-00-00-00-01", remote: "10.99.0.11:700", headers: key(c001Key), code: 200},
		{name: "node without a key, no header", path: "/runtime/" + c002MAC, remote: "10.99.0.12:700", code: 200},
		{name: "node without a key, any header", path: "/runtime/" + c002MAC, remote: "10.99.0.12:700", headers: key("whatever"), code: 200},

		{name: "port 1024", path: "/runtime/" + c001MAC, remote: "10.99.0.11:1024", headers: key(c001Key), code: 403, why: "source port"},
		{name: "port 40000", path: "/runtime/" + c001MAC, remote: "10.99.0.11:40000", headers: key(c001Key), code: 403, why: "source port"},
		{name: "digest URL, port 40000", path: runtimeDigestPath(c001), remote: "10.99.0.11:40000", headers: key(c001Key), code: 403, why: "source port"},
		{name: "HEAD, port 40000", method: "HEAD", path: "/runtime/" + c001MAC, remote: "10.99.0.11:40000", headers: key(c001Key), code: 403, why: "source port"},
		{name: "another node's address", path: "/runtime/" + c001MAC, remote: "10.99.0.12:700", headers: key(c001Key), code: 403, why: "own address"},
		{name: "a stranger's address", path: "/runtime/" + c002MAC, remote: "10.99.0.99:700", code: 403, why: "own address"},
		{name: "the server's address", path: "/runtime/" + c002MAC, remote: "10.99.0.1:700", code: 403, why: "own address"},
		{name: "IPv6", path: "/runtime/" + c002MAC, remote: "[fe80::1]:700", code: 403, why: "own address"},
		{name: "missing key", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", code: 403, why: "no asset key"},
		{name: "wrong key", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key("ASSET-TAG-c002"), code: 403, why: "wrong asset key"},
		{name: "key in other case", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key(strings.ToLower(c001Key)), code: 403, why: "wrong asset key"},
		{name: "key with a suffix", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key(c001Key + "x"), code: 403, why: "wrong asset key"},
		{name: "empty key", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key(""), code: 403, why: "wrong asset key"},
		{name: "the key's hash as key", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: key(keySum(c001Key)), code: 403, why: "wrong asset key"},
		{name: "two keys", path: "/runtime/" + c001MAC, remote: "10.99.0.11:700", headers: append(key("nope"), key(c001Key)...), code: 403, why: "wrong asset key"},
		{name: "digest URL, missing key", path: runtimeDigestPath(c001), remote: "10.99.0.11:700", code: 403, why: "no asset key"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkSecureCase(t, env, tc) })
	}

	// Without secure_runtime, keys and ports are not checked.
	plain := newSecureEnv(t, false)
	if w := plain.get("GET", "/runtime/"+c001MAC, "10.99.0.77:40000"); w.Code != 200 || w.Body.String() != secretOverlay {
		t.Fatalf("secure_runtime off: %d %q", w.Code, w.Body)
	}
	// Other artifacts are not restricted.
	if w := env.get("GET", "/system/"+c001MAC, "10.99.0.77:40000"); w.Code != 200 {
		t.Fatalf("system overlay with secure_runtime: %d", w.Code)
	}
}

// secureCase is one request of TestSecureRuntimeDecisions.
type secureCase struct {
	name    string
	method  string // GET when empty
	path    string
	remote  string
	headers []string
	code    int
	why     string // logged reason of a 403
}

// checkSecureCase makes tc's request and checks the answer, what is
// recorded on the node and what is logged: the overlay and a refreshed
// record for a 200; for a 403 nothing of the overlay, DENIED on the node
// (only logged when not from its own address) and the reason logged,
// never the key.
func checkSecureCase(t *testing.T, env *secureEnv, tc secureCase) {
	env.reset()
	method := tc.method
	if method == "" {
		method = "GET"
	}
	w := env.get(method, tc.path, tc.remote, tc.headers...)
	if w.Code != tc.code {
		t.Fatalf("%s %s from %s: %d, want %d (%s)", method, tc.path, tc.remote, w.Code, tc.code, w.Body)
	}
	body := w.Body.String()
	name := "c001"
	if strings.Contains(tc.path, c002MAC) {
		name = "c002"
	}
	r, _ := env.store.Node(name)
	if tc.code == 200 {
		if method == "GET" && body != secretOverlay {
			t.Fatalf("body %q, want the overlay", body)
		}
		if r.Stage != status.StageRuntimeOverlay || r.Error != nil || r.LastSeen.IsZero() {
			t.Fatalf("record after a download: %+v", r)
		}
		return
	}
	if body != "Forbidden\n" {
		t.Fatalf("403 body %q", body)
	}
	for _, h := range []string{"Etag", "Content-Length", "Content-Range", "Last-Modified", "Accept-Ranges"} {
		if v := w.Header().Get(h); v != "" {
			t.Errorf("403 has %s: %q", h, v)
		}
	}
	switch {
	case tc.why == "own address":
		// Not from the node: nothing of it is recorded on the
		// node (a neighbour cannot set its status), only logged.
		if r.Error != nil || r.Stage != "" {
			t.Fatalf("a request from another address recorded on %s: %+v", name, r)
		}
		if !strings.Contains(env.log.String(), NotOwnAddress) {
			t.Errorf("not logged %s:\n%s", NotOwnAddress, env.log.String())
		}
	case r.Error == nil || r.Error.Stage != status.StageDenied || r.Error.Sent != "runtime.img.gz":
		t.Fatalf("not recorded DENIED: %+v", r)
	}
	if !r.LastSeen.IsZero() {
		t.Errorf("a refused request refreshed LASTSEEN: %+v", r)
	}
	log := env.log.String()
	if !strings.Contains(log, "runtime overlay refused") || !strings.Contains(log, tc.why) {
		t.Errorf("refusal not logged with %q:\n%s", tc.why, log)
	}
	if strings.Contains(log, c001Key) || strings.Contains(log, strings.ToLower(c001Key)) {
		t.Errorf("the log shows an asset key:\n%s", log)
	}
}

// TestSecureRuntimeRotatedKey: a runtime overlay still served by digest
// from a replaced snapshot (grace period) needs the node's current key
// (and address) as well as the old one: a rotated key locks the old one
// out at once.
func TestSecureRuntimeRotatedKey(t *testing.T) {
	env := newSecureEnv(t, true)
	old, _ := env.snap.NodeByName("c001")
	oldDigest := runtimeDigestPath(old)
	nodes := append([]bootsvc.Node(nil), env.snap.Nodes...)
	nodes[0].AssetKeyDigest = keyedSum("NEW-TAG")
	dir := t.TempDir()
	p := filepath.Join(dir, "runtime2.img.gz")
	os.WriteFile(p, []byte(secretOverlay+"-v2"), 0o644)
	nodes[0].Artifacts.Runtime = fileArtifact(t, p, "runtime.img.gz")
	env.h.Update(newSnap(env.snap, nodes))
	for _, tc := range []struct {
		path, key string
		code      int
	}{
		{oldDigest, c001Key, 403},
		{oldDigest, "NEW-TAG", 403}, // the old snapshot wants the old key
		{"/runtime/" + c001MAC, c001Key, 403},
		{"/runtime/" + c001MAC, "NEW-TAG", 200},
	} {
		w := env.get("GET", tc.path, "10.99.0.11:700", AssetKeyHeader, tc.key)
		if w.Code != tc.code {
			t.Errorf("%s with key %s: %d, want %d", tc.path, tc.key, w.Code, tc.code)
		}
		if tc.code == 403 && bytes.Contains(w.Body.Bytes(), []byte(secretOverlay[:8])) {
			t.Errorf("%s: overlay bytes in a 403", tc.path)
		}
	}
	// The node keeps its IP in the new snapshot but an old digest asked
	// from an address the new snapshot gives another node is refused.
	nodes2 := append([]bootsvc.Node(nil), nodes...)
	nodes2[0].IP, nodes2[0].AssetKeyDigest = netip.MustParseAddr("10.99.0.21"), keyedSum(c001Key)
	env.h.Update(newSnap(env.snap, nodes2))
	if w := env.get("GET", oldDigest, "10.99.0.11:700", AssetKeyHeader, c001Key); w.Code != 403 {
		t.Errorf("old digest from the node's old address: %d, want 403", w.Code)
	}
}

// TestRuntimeNotModified: the agent's poll with If-None-Match gets 304
// and still counts: the node stays at RUNTIME_OVERLAY and its LASTSEEN
// moves (in secure mode too); a refused poll gets 403, not 304 (which
// would confirm the digest).
func TestRuntimeNotModified(t *testing.T) {
	for _, secure := range []bool{false, true} {
		env := newSecureEnv(t, secure)
		c001, _ := env.snap.NodeByName("c001")
		etag := `"` + c001.Artifacts.Runtime.Digest + `"`
		w := env.get("GET", "/runtime/"+c001MAC, "10.99.0.11:700", AssetKeyHeader, c001Key)
		if w.Code != 200 || w.Header().Get("Etag") != etag {
			t.Fatalf("secure=%v: first fetch %d, ETag %q", secure, w.Code, w.Header().Get("Etag"))
		}
		first, _ := env.store.Node("c001")
		env.now = env.now.Add(time.Minute)
		w = env.get("GET", "/runtime/"+c001MAC, "10.99.0.11:701", AssetKeyHeader, c001Key, "If-None-Match", etag)
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Fatalf("secure=%v: poll with If-None-Match: %d, %d bytes", secure, w.Code, w.Body.Len())
		}
		r, _ := env.store.Node("c001")
		if r.Stage != status.StageRuntimeOverlay || r.Sent != "runtime.img.gz" || !r.LastSeen.Equal(first.LastSeen.Add(time.Minute)) {
			t.Fatalf("secure=%v: after a 304: %+v (first seen %v)", secure, r, first.LastSeen)
		}
		if secure {
			w = env.get("GET", "/runtime/"+c001MAC, "10.99.0.11:40000", AssetKeyHeader, c001Key, "If-None-Match", etag)
			if w.Code != http.StatusForbidden {
				t.Fatalf("refused poll with If-None-Match: %d, want 403", w.Code)
			}
		}
	}
}

// privilegedClient is an HTTP client whose connections come from src and
// a free port below 1024 (root only), like gitboot-agent's in secure mode.
func privilegedClient(t *testing.T, src string) *http.Client {
	t.Helper()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var last error
		for port := 600; port < 1024; port++ {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src), Port: port}, Timeout: 10 * time.Second}
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 30 * time.Second}
}

// TestSecureRuntimeWire: secure_runtime over real TCP on loopback, with
// the client binding a privileged source port as the agent does: the
// node's own address with its key gets the overlay; an unprivileged port,
// another node's address or a wrong key gets 403 and not one byte of it.
func TestSecureRuntimeWire(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root")
		}
		t.Skip("binding a port < 1024 needs root")
	}
	e := newEnv(t, Config{AssetKeySecret: testSecret}, func(s *bootsvc.Server, nodes []bootsvc.Node) {
		s.SecureRuntime = true
		nodes[0].AssetKeyDigest = keyedSum(c001Key)
	})
	n1, _ := e.h.Snapshot().NodeByName("c001")
	want, err := os.ReadFile(n1.Artifacts.Runtime.Path)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(c *http.Client, path, key string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.base+path, nil)
		if key != "" {
			req.Header.Set(AssetKeyHeader, key)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	own, other := privilegedClient(t, "127.0.0.1"), privilegedClient(t, "127.0.0.2")
	for _, tc := range []struct {
		name   string
		client *http.Client
		path   string
		key    string
		code   int
	}{
		{"own address, privileged port, key", own, "/runtime/" + c001MAC, c001Key, 200},
		{"digest URL", own, runtimeDigestPath(n1), c001Key, 200},
		{"unprivileged port", http.DefaultClient, "/runtime/" + c001MAC, c001Key, 403},
		{"wrong key", own, "/runtime/" + c001MAC, "ASSET-TAG-c002", 403},
		{"no key", own, "/runtime/" + c001MAC, "", 403},
		{"another node's address", other, "/runtime/" + c001MAC, c001Key, 403},
		{"c002 (no key) from its own address", other, "/runtime/" + c002MAC, "", 200},
		{"c002 from c001's address", own, "/runtime/" + c002MAC, "", 403},
	} {
		code, body := fetch(tc.client, tc.path, tc.key)
		if code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
			continue
		}
		if code == 200 && !bytes.Equal(body, want) {
			t.Errorf("%s: got %d bytes, not the overlay", tc.name, len(body))
		}
		if code == 403 && (string(body) != "Forbidden\n" || bytes.Contains(body, want[:16])) {
			t.Errorf("%s: 403 body %q", tc.name, body)
		}
	}
	if r, _ := e.store.Node("c001"); r.Error == nil || r.Error.Stage != status.StageDenied {
		t.Fatalf("c001 after refusals: %+v", r)
	}
	if strings.Contains(e.log.String(), c001Key) {
		t.Error("the log shows the asset key")
	}
	// The next good fetch clears the pending DENIED.
	if code, _ := fetch(own, "/runtime/"+c001MAC, c001Key); code != 200 {
		t.Fatal(code)
	}
	if r, _ := e.store.Node("c001"); r.Error != nil || r.Stage != status.StageRuntimeOverlay {
		t.Fatalf("c001 after a good fetch: %+v", r)
	}
}

// TestAssetKeyMatches: a keyed digest matches its key with the server's
// secret only (not with another secret, not without one, not the plain
// hash as key); a plain sha256 (an inventory written before keyed
// digests) still matches its key.
func TestAssetKeyMatches(t *testing.T) {
	for _, tc := range []struct {
		name, key, want string
		secret          []byte
		ok              bool
	}{
		{"keyed", c001Key, keyedSum(c001Key), testSecret, true},
		{"keyed, wrong key", "ASSET-TAG-c002", keyedSum(c001Key), testSecret, false},
		{"keyed, other secret", c001Key, keyedSum(c001Key), []byte("another-secret-another-secret-00"), false},
		{"keyed, no secret", c001Key, keyedSum(c001Key), nil, false},
		{"keyed, the plain hash as key", keySum(c001Key), keyedSum(c001Key), testSecret, false},
		{"plain", c001Key, keySum(c001Key), nil, true},
		{"plain, wrong key", "x", keySum(c001Key), testSecret, false},
	} {
		if got := assetKeyMatches(tc.key, tc.want, tc.secret); got != tc.ok {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.ok)
		}
	}
}
