package httpboot

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/status"
)

func TestRolloutRoute(t *testing.T) {
	var got []string
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger(),
		Rollout: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, r.Method)
			w.WriteHeader(http.StatusAccepted)
		})})
	for _, tc := range []struct {
		name, method, remote string
		code                 int
		called               bool
	}{
		{"get from a node", "GET", "10.99.0.11:5000", 202, true},
		{"post from loopback", "POST", "127.0.0.1:5000", 202, true},
		{"delete from loopback v6", "DELETE", "[::1]:5000", 202, true},
		{"post from a node", "POST", "10.99.0.11:5000", 403, false},
		{"delete from a node", "DELETE", "10.99.0.11:5000", 403, false},
		{"put", "PUT", "127.0.0.1:5000", 405, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(got)
			req := httptest.NewRequest(tc.method, "/rollout", strings.NewReader(`{}`))
			req.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			h.Admin("").ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("%s /rollout from %s: %d %q, want %d", tc.method, tc.remote, w.Code, w.Body.String(), tc.code)
			}
			if called := len(got) != before; called != tc.called {
				t.Fatalf("Rollout called: %v, want %v", called, tc.called)
			}
		})
	}
	h = New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger()})
	if w := do(h, "GET", "/rollout", "127.0.0.1:5000"); w.Code != 404 {
		t.Fatalf("GET /rollout without Rollout: %d", w.Code)
	}
}
