package httpboot

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// POST /apply?force=1 (gitboot apply --force) on the admin listener
// reaches Apply as Forced; a plain POST does not.
func TestApplyForced(t *testing.T) {
	var forced []bool
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory(), Logger: discardLogger(),
		Apply: func(ctx context.Context, _ []byte) (int, []byte) {
			forced = append(forced, Forced(ctx))
			return 200, []byte("{}")
		}})
	admin := h.Admin("")
	for _, url := range []string{"/apply", "/apply?force=1", "/apply?force=0"} {
		req := httptest.NewRequest("POST", url, strings.NewReader("{}"))
		req.RemoteAddr = "127.0.0.1:5000"
		admin.ServeHTTP(httptest.NewRecorder(), req)
	}
	if len(forced) != 3 || forced[0] || !forced[1] || forced[2] {
		t.Errorf("forced %v, want [false true false]", forced)
	}
}
