package serve

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// POST /apply before the boot services run is refused with 503: applied
// then, the plan would be recorded as running but never published (the
// reconciler is not even asked: a nil one would panic).
func TestApplyBeforeServicesUp(t *testing.T) {
	ready := false
	h := applyHandler(nil, func() bool { return ready })
	code, body := h(context.Background(), []byte("not a plan"))
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "not up yet") {
		t.Errorf("before the services run: %d %s", code, body)
	}
	ready = true
	if code, body := h(context.Background(), []byte("not a plan")); code != http.StatusBadRequest {
		t.Errorf("once they run, a bad plan: %d %s", code, body)
	}
}
