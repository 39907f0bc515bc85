package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

type fakeStages map[status.Stage]int

func (f fakeStages) StageCounts() map[status.Stage]int { return f }

// scrape returns the text format served by m.Handler().
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics: %d", w.Code)
	}
	return w.Body.String()
}

// TestNames: the metric names and labels that dashboards and test/e2e
// rely on.
func TestNames(t *testing.T) {
	m := New()
	if strings.Contains(scrape(t, m), "gitboot_nodes") {
		t.Error("gitboot_nodes before SetStatus")
	}
	m.SetStatus(fakeStages{status.StageKernel: 2, status.StageDenied: 1})
	r := m.HTTPRoute("ipxe")
	r.Observe(200, 100)
	r.Observe(200, 50)
	r.Observe(418, 7)
	m.HTTPConnOpened()
	m.HTTPConnOpened()
	m.HTTPConnClosed()
	m.DHCPReply("ACK")
	m.TFTPTransfer("ok", 1000)
	m.ObserveBuild(time.Second)
	m.ObserveApply(2 * time.Second)
	m.ObserveReconcile(ReconcileApplied)
	m.ObserveReconcile(ReconcileUnchanged)
	m.ObserveReconcile(ReconcileUnchanged)
	m.SetApplied(time.Unix(1795000000, 500_000_000))
	m.ReloadFailed(ReloadInvalid, time.Unix(1795000100, 0))
	m.ReloadFailed(ReloadTooExpensive, time.Unix(1795000200, 0))
	m.ReloadFailed(ReloadError, time.Unix(1795000300, 0))
	m.ReloadFailed(ReloadError, time.Unix(1795000400, 0))
	body := scrape(t, m)
	for _, want := range []string{
		`gitboot_http_requests_total{code="200",route="ipxe"} 2`,
		`gitboot_http_response_bytes_total{code="200",route="ipxe"} 150`,
		`gitboot_http_requests_total{code="418",route="ipxe"} 1`,
		`gitboot_http_connections 1`,
		`gitboot_dhcp_replies_total{type="ACK"} 1`,
		`gitboot_tftp_transfers_total{result="ok"} 1`,
		`gitboot_tftp_bytes_total 1000`,
		`gitboot_build_duration_seconds_count 1`,
		`gitboot_apply_duration_seconds_sum 2`,
		`gitboot_reconcile_total{result="applied"} 1`,
		`gitboot_reconcile_total{result="unchanged"} 2`,
		`gitboot_reconcile_total{result="rejected"} 0`,
		`gitboot_reconcile_total{result="planned"} 0`,
		`gitboot_reconcile_total{result="error"} 0`,
		`gitboot_applied_timestamp_seconds 1.7950000005e+09`,
		`gitboot_reload_failures_total{reason="invalid"} 1`,
		`gitboot_reload_failures_total{reason="too_expensive"} 1`,
		`gitboot_reload_failures_total{reason="error"} 2`,
		`gitboot_last_rejected_timestamp_seconds 1.7950002e+09`,
		`gitboot_nodes{stage="KERNEL"} 2`,
		`gitboot_nodes{stage="DENIED"} 1`,
		`gitboot_nodes{stage="DHCP"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// TestHTTPRouteAllocs: counting a response with a common code allocates
// nothing (httpboot's /ipxe/{mac} is zero-alloc).
func TestHTTPRouteAllocs(t *testing.T) {
	r := New().HTTPRoute("kernel")
	r.Observe(200, 1) // fill the cache
	if n := testing.AllocsPerRun(100, func() { r.Observe(200, 10) }); n > 0 {
		t.Errorf("Observe allocates %.1f times", n)
	}
}
