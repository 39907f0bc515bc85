package metrics

import (
	"strings"
	"testing"
)

// The admission metrics are absent until a source is set, then read from
// it at every scrape.
func TestAdmissionMetrics(t *testing.T) {
	m := New()
	if out := scrape(t, m); strings.Contains(out, "gitboot_dhcp_booting") || strings.Contains(out, "gitboot_dhcp_admission_total") {
		t.Error("admission metrics before SetAdmission")
	}
	a := Admission{Limit: 64, InFlight: 64, Queued: 3, Held: 10, Answered: 7, Dropped: 2, Expired: 1}
	m.SetAdmission(func() Admission { return a })
	out := scrape(t, m)
	for _, want := range []string{
		"gitboot_dhcp_max_booting 64", "gitboot_dhcp_booting 64", "gitboot_dhcp_held 3",
		`gitboot_dhcp_admission_total{event="held"} 10`, `gitboot_dhcp_admission_total{event="answered"} 7`,
		`gitboot_dhcp_admission_total{event="dropped"} 2`, `gitboot_dhcp_admission_total{event="expired"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	a.Queued = 0
	if out := scrape(t, m); !strings.Contains(out, "gitboot_dhcp_held 0") {
		t.Error("gitboot_dhcp_held not read again at the next scrape")
	}
}
