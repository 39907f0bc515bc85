package httpboot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// do serves one in-process request from remote on h's admin listener
// (no token) and returns the recorder.
func do(h *Handler, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	return doOn(h.Admin(""), method, target, remote, hdr...)
}

// doBoot is do on the boot listener.
func doBoot(h *Handler, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	return doOn(h, method, target, remote, hdr...)
}

func doOn(h http.Handler, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestInventory(t *testing.T) {
	var inv atomic.Pointer[[]byte]
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger(),
		Inventory: func() *EncodedInventory {
			if p := inv.Load(); p != nil {
				return InventoryBytes(*p)
			}
			return nil
		}})
	const remote = "10.99.0.77:40000" // any client
	if w := do(h, "GET", "/inventory", remote); w.Code != 503 || w.Body.String() != "no inventory yet\n" {
		t.Fatalf("before an inventory: %d %q", w.Code, w.Body.String())
	}
	empty := []byte{}
	inv.Store(&empty)
	if w := do(h, "GET", "/inventory", remote); w.Code != 503 {
		t.Fatalf("empty inventory: %d", w.Code)
	}

	body := []byte(`{"commit":"0123abcd","nodes":{}}` + "\n")
	inv.Store(&body)
	sum := sha256.Sum256(body)
	etag := `"sha256:` + hex.EncodeToString(sum[:]) + `"`
	w := do(h, "GET", "/inventory", remote)
	if w.Code != 200 || w.Body.String() != string(body) || w.Header().Get("Content-Type") != "application/json" ||
		w.Header().Get("Etag") != etag || w.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("GET /inventory: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := do(h, "GET", "/inventory", remote, "If-None-Match", etag); w.Code != 304 || w.Body.Len() != 0 {
		t.Fatalf("If-None-Match: %d %q, want 304", w.Code, w.Body.String())
	}
	if w := do(h, "GET", "/inventory", remote, "If-None-Match", `"sha256:00"`); w.Code != 200 {
		t.Fatalf("If-None-Match another: %d, want 200", w.Code)
	}
	if w := do(h, "HEAD", "/inventory", remote); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Etag") != etag {
		t.Fatalf("HEAD: %d %q", w.Code, w.Body.String())
	}
	if w := do(h, "POST", "/inventory", remote); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /inventory: %d %v", w.Code, w.Header())
	}
	// A new inventory, a new ETag.
	body2 := []byte(`{"commit":"def456","nodes":{}}`)
	inv.Store(&body2)
	if w := do(h, "GET", "/inventory", remote, "If-None-Match", etag); w.Code != 200 || w.Body.String() != string(body2) {
		t.Fatalf("changed inventory: %d %q", w.Code, w.Body.String())
	}
	// Without an Inventory func.
	if w := do(New(Config{Logger: discardLogger()}), "GET", "/inventory", remote); w.Code != 503 {
		t.Fatalf("no Inventory func: %d", w.Code)
	}
}

func TestReconcileRoute(t *testing.T) {
	var calls atomic.Int32
	store := status.NewMemory()
	h := New(Config{Snapshot: goldenSnapshot(), Status: store, Logger: discardLogger(), Reconcile: func() { calls.Add(1) }})
	for _, tc := range []struct {
		name, method, remote string
		code                 int
		body                 string
		called               bool
	}{
		{"loopback-v4", "POST", "127.0.0.1:5000", 202, "reconcile requested\n", true},
		{"loopback-v4-other", "POST", "127.3.4.5:5000", 202, "reconcile requested\n", true},
		{"loopback-v6", "POST", "[::1]:5000", 202, "reconcile requested\n", true},
		{"v4-mapped-loopback", "POST", "[::ffff:127.0.0.1]:5000", 202, "reconcile requested\n", true},
		{"node", "POST", "10.99.0.11:5000", 403, "Forbidden: only from the server itself (a loopback address)\n", false},
		{"v6-other", "POST", "[fe80::1]:5000", 403, "", false},
		{"unparsable-remote", "POST", "pipe", 403, "", false},
		{"get", "GET", "127.0.0.1:5000", 405, "Method Not Allowed: only POST\n", false},
		{"head", "HEAD", "127.0.0.1:5000", 405, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			w := do(h, tc.method, "/reconcile", tc.remote)
			if w.Code != tc.code || (tc.body != "" && w.Body.String() != tc.body) {
				t.Fatalf("%s /reconcile from %s: %d %q, want %d %q", tc.method, tc.remote, w.Code, w.Body.String(), tc.code, tc.body)
			}
			if tc.code == 405 && w.Header().Get("Allow") != "POST" {
				t.Fatalf("Allow %q", w.Header().Get("Allow"))
			}
			if got := calls.Load() != before; got != tc.called {
				t.Fatalf("Reconcile called: %v, want %v", got, tc.called)
			}
		})
	}
	// A refusal on the admin listener is logged, never recorded on the
	// node whose address sent it: admin requests are no node's.
	if r, _ := store.Node("c001"); r.Error != nil {
		t.Fatalf("403 on the admin listener recorded on c001: %+v", r.Error)
	}
	// The boot listener has no such route.
	if w := doBoot(h, "POST", "/reconcile", "127.0.0.1:5000"); w.Code != 404 || calls.Load() != 2+2 {
		t.Fatalf("POST /reconcile on the boot listener: %d %q (calls %d)", w.Code, w.Body.String(), calls.Load())
	}

	// A body is refused without reading it.
	req := httptest.NewRequest("POST", "/reconcile", strings.NewReader("x"))
	req.RemoteAddr = "127.0.0.1:5000"
	w := httptest.NewRecorder()
	before := calls.Load()
	h.Admin("").ServeHTTP(w, req)
	if w.Code != 400 || calls.Load() != before {
		t.Fatalf("POST with a body: %d", w.Code)
	}

	// Without a Reconcile func the route does not exist.
	if w := do(New(Config{Logger: discardLogger()}), "POST", "/reconcile", "127.0.0.1:5000"); w.Code != 404 {
		t.Fatalf("no Reconcile func: %d", w.Code)
	}
}

// TestReconcileOverLoopback: the hook's request, over real TCP with curl.
func TestReconcileOverLoopback(t *testing.T) {
	called := make(chan struct{}, 1)
	e := newEnv(t, Config{Reconcile: func() {
		select {
		case called <- struct{}{}:
		default:
		}
	}}, nil)
	if c := curlCode(t, "-X", "POST", e.admin+"/reconcile"); c != "202" {
		t.Fatalf("curl -X POST /reconcile: %s", c)
	}
	select {
	case <-called:
	default:
		t.Fatal("Reconcile not called")
	}
	if c := curlCode(t, e.admin+"/reconcile"); c != "405" {
		t.Fatalf("GET /reconcile: %s", c)
	}
	if body := string(curl(t, e.admin+"/metrics")); !strings.Contains(body, `gitboot_http_requests_total{code="202",route="reconcile"} 1`) {
		t.Error("metrics lack the reconcile request")
	}
}

func TestApplyRoute(t *testing.T) {
	var got []string
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger(),
		Apply: func(_ context.Context, plan []byte) (int, []byte) {
			got = append(got, string(plan))
			return 409, []byte(`{"error":"stale"}`)
		}})
	for _, tc := range []struct {
		name, method, remote string
		code                 int
		called               bool
	}{
		{"loopback", "POST", "127.0.0.1:5000", 409, true},
		{"loopback-v6", "POST", "[::1]:5000", 409, true},
		{"node", "POST", "10.99.0.11:5000", 403, false},
		{"get", "GET", "127.0.0.1:5000", 405, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(got)
			req := httptest.NewRequest(tc.method, "/apply", strings.NewReader(`{"plan":1}`))
			req.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			h.Admin("").ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("%s /apply from %s: %d %q, want %d", tc.method, tc.remote, w.Code, w.Body.String(), tc.code)
			}
			if called := len(got) != before; called != tc.called {
				t.Fatalf("Apply called: %v, want %v", called, tc.called)
			}
			if tc.called && (got[len(got)-1] != `{"plan":1}` || w.Body.String() != `{"error":"stale"}` || w.Header().Get("Content-Type") != "application/json") {
				t.Fatalf("Apply got %q, answered %q %q", got[len(got)-1], w.Body.String(), w.Header().Get("Content-Type"))
			}
		})
	}
	// Without an Apply func the route does not exist.
	h = New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger()})
	if w := do(h, "POST", "/apply", "127.0.0.1:5000"); w.Code != 404 {
		t.Fatalf("POST /apply without Apply: %d", w.Code)
	}
}

// TestCheckPath: GET /check-path hands exactly one image= or ipxe_dir=
// path to Config.CheckPath and answers its verdict as JSON; anything else
// is 400, and without a CheckPath the route is 404.
func TestCheckPath(t *testing.T) {
	var asked []string
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger(),
		CheckPath: func(kind, path string) (bool, []string) {
			asked = append(asked, kind+":"+path)
			return path == "/srv/images/a", []string{"/srv/" + kind}
		}})
	const remote = "10.99.0.77:40000" // any client: plan --server runs from CI
	for target, want := range map[string]string{
		"/check-path?image=%2Fsrv%2Fimages%2Fa": `{"kind":"image","path":"/srv/images/a","allowed":true,"roots":["/srv/image"]}` + "\n",
		"/check-path?image=/etc":                `{"kind":"image","path":"/etc","allowed":false,"roots":["/srv/image"]}` + "\n",
		"/check-path?ipxe_dir=/etc":             `{"kind":"ipxe_dir","path":"/etc","allowed":false,"roots":["/srv/ipxe_dir"]}` + "\n",
	} {
		if w := do(h, "GET", target, remote); w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %q, want 200 %q", target, w.Code, w.Body.String(), want)
		}
	}
	for _, target := range []string{"/check-path", "/check-path?image=", "/check-path?image=/a&image=/b",
		"/check-path?image=/a&ipxe_dir=/b", "/check-path?source=/etc", "/check-path?image=" + strings.Repeat("a", 5000)} {
		if w := do(h, "GET", target, remote); w.Code != 400 {
			t.Errorf("GET %.60s: %d, want 400", target, w.Code)
		}
	}
	if len(asked) != 3 {
		t.Errorf("CheckPath called %d times (%v), want 3", len(asked), asked)
	}
	if w := do(h, "POST", "/check-path?image=/etc", remote); w.Code != 405 {
		t.Errorf("POST: %d, want 405", w.Code)
	}
	h = New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger()})
	if w := do(h, "GET", "/check-path?image=/etc", remote); w.Code != 404 {
		t.Errorf("without CheckPath: %d, want 404", w.Code)
	}
}
