package httpboot

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
)

// operatorPaths are the admin listener's routes, as a client asks them.
var operatorPaths = []struct{ method, path string }{
	{"GET", "/"}, {"GET", "/events"}, {"GET", "/status"}, {"GET", "/inventory"}, {"GET", "/metrics"},
	{"GET", "/check-path?image=/etc"}, {"POST", "/reconcile"}, {"POST", "/apply"}, {"POST", "/power"},
	{"GET", "/rollout"}, {"POST", "/rollout"},
}

// TestListenersSplit, over loopback TCP with curl: the boot listener
// answers every operator route 404 (whatever the method, running none of
// them) and still serves the nodes' routes; the admin listener serves the
// operator routes and answers the nodes' routes 404.
func TestListenersSplit(t *testing.T) {
	var reconciles int
	e := newEnv(t, Config{Inventory: func() *EncodedInventory { return InventoryBytes([]byte(`{"commit":"abc"}`)) },
		Reconcile: func() { reconciles++ }, CheckPath: func(string, string) (bool, []string) { return false, nil },
		Apply:   func(ctx context.Context, b []byte) (int, []byte) { return 200, []byte("{}") },
		Power:   func(ctx context.Context, b []byte) (int, []byte) { return 200, []byte("{}") },
		UI:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) }),
		Rollout: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })}, nil)
	for _, op := range operatorPaths {
		if c := curlCode(t, "-X", op.method, "-d", "{}", e.base+op.path); c != "404" {
			t.Errorf("%s %s on the boot listener: %s, want 404", op.method, op.path, c)
		}
	}
	if reconciles != 0 {
		t.Fatalf("POST /reconcile on the boot listener reconciled")
	}
	mac := "52:54:00:00:00:01"
	for _, p := range []string{"/ipxe/" + mac, "/kernel/" + mac, "/image/" + mac, "/system/" + mac, "/healthz"} {
		if c := curlCode(t, e.base+p); c != "200" {
			t.Errorf("GET %s on the boot listener: %s", p, c)
		}
		want := "404"
		if p == "/healthz" {
			want = "200"
		}
		if c := curlCode(t, e.admin+p); c != want {
			t.Errorf("GET %s on the admin listener: %s, want %s", p, c, want)
		}
	}
	for _, op := range operatorPaths {
		want := "200"
		if op.path == "/reconcile" {
			want = "202"
		}
		args := []string{"-X", op.method, e.admin + op.path}
		if op.method == "POST" && op.path != "/reconcile" {
			args = append(args, "-d", "{}")
		}
		if c := curlCode(t, args...); c != want {
			t.Errorf("%s %s on the admin listener: %s, want %s", op.method, op.path, c, want)
		}
	}
}

// TestAdminToken: with a token every admin request needs it, as a bearer
// token or as the cookie that opening /?token=TOKEN sets (HttpOnly,
// SameSite=Strict, then a redirect to / without the token); and a request
// carrying it may change state from a non-loopback address.
func TestAdminToken(t *testing.T) {
	const token = "s3cret-admin-token-0123456789"
	e := newEnv(t, Config{Reconcile: func() {}}, nil)
	admin := startAdmin(t, e.h, token)
	if c := curlCode(t, admin+"/status"); c != "401" {
		t.Fatalf("no token: %s", c)
	}
	if c := curlCode(t, "-H", "Authorization: Bearer wrong-token-wrong-token", admin+"/status"); c != "401" {
		t.Fatalf("wrong token: %s", c)
	}
	if c := curlCode(t, "-H", "Authorization: Bearer "+token, admin+"/status"); c != "200" {
		t.Fatalf("bearer token: %s", c)
	}
	if c := curlCode(t, "-X", "POST", "-H", "Authorization: Bearer "+token, admin+"/reconcile"); c != "202" {
		t.Fatalf("POST /reconcile with the token: %s", c)
	}
	if c := curlCode(t, admin+"/?token=nope"); c != "401" {
		t.Fatalf("/?token= wrong: %s", c)
	}
	hdr := string(curl(t, "-D", "-", "-o", "/dev/null", admin+"/?token="+token))
	if !strings.HasPrefix(hdr, "HTTP/1.1 303") || !strings.Contains(hdr, "Location: /\r\n") {
		t.Fatalf("/?token=: %s", hdr)
	}
	var cookie string
	for _, l := range strings.Split(hdr, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Set-Cookie: "); ok {
			cookie = v
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || strings.Contains(cookie, token) {
		t.Fatalf("cookie %q: want HttpOnly, SameSite=Strict, not the token itself", cookie)
	}
	nv, _, _ := strings.Cut(cookie, ";")
	if c := curlCode(t, "-H", "Cookie: "+nv, admin+"/status"); c != "200" {
		t.Fatalf("with the cookie: %s", c)
	}
	if c := curlCode(t, "-H", "Cookie: "+AdminCookie+"=00", admin+"/status"); c != "401" {
		t.Fatalf("with a forged cookie: %s", c)
	}
	// The token stands in for a loopback address; without it a remote
	// client is refused (the listener without a token is loopback-only).
	h := e.h.Admin(token)
	if w := doOn(h, "POST", "/reconcile", "10.99.0.50:4000", "Authorization", "Bearer "+token); w.Code != 202 {
		t.Fatalf("remote POST /reconcile with the token: %d %s", w.Code, w.Body)
	}
	if w := doOn(e.h.Admin(""), "POST", "/reconcile", "10.99.0.50:4000"); w.Code != 403 {
		t.Fatalf("remote POST /reconcile without a token: %d", w.Code)
	}
}

// TestAdminAddrNeedsToken: a non-loopback admin listener without a token
// is refused before it serves anything.
func TestAdminAddrNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		token string
		ok    bool
	}{
		{"127.0.0.1:9875", "", true},
		{"[::1]:9875", "", true},
		{"0.0.0.0:9875", "", false},
		{"[::]:9875", "", false},
		{"10.99.0.1:9875", "", false},
		{"10.99.0.1:9875", "tok", true},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckAdminAddr(a, tc.token)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrAdminNeedsToken)) {
			t.Errorf("%s token %q: %v", tc.addr, tc.token, err)
		}
	}
}
