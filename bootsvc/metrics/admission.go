package metrics

import "github.com/prometheus/client_golang/prometheus"

// Admission is what DHCP's admission control (dhcp.Admission, serve
// --dhcp-max-booting) reports: the boots it lets run now and the firmware
// DISCOVERs it holds now, and since start how many it held, answered when a
// boot ended, dropped, and how many boots stopped counting without
// progress.
type Admission struct {
	Limit    int
	InFlight int
	Queued   int
	Held     uint64
	Answered uint64
	Dropped  uint64
	Expired  uint64
}

var (
	admLimitDesc = prometheus.NewDesc("gitboot_dhcp_max_booting",
		"Boots DHCP lets run at once (serve --dhcp-max-booting).", nil, nil)
	admInFlightDesc = prometheus.NewDesc("gitboot_dhcp_booting",
		"Boots in flight: from the firmware's answered DISCOVER until the node asks for its last initrd.", nil, nil)
	admQueuedDesc = prometheus.NewDesc("gitboot_dhcp_held",
		"Firmware DISCOVERs held now, waiting for a boot to end.", nil, nil)
	admTotalDesc = prometheus.NewDesc("gitboot_dhcp_admission_total",
		"Admission control since start, by event: held (a DISCOVER waited), answered (a held one was answered), dropped (after its hold time or beyond a full queue), expired (a boot stopped counting without progress).",
		[]string{"event"}, nil)
)

// SetAdmission makes f the source of the gitboot_dhcp admission metrics;
// until then (and with no limit) they are absent.
func (m *Metrics) SetAdmission(f func() Admission) { m.admission.Store(&f) }

// admissionCollector reports the admission metrics from SetAdmission's
// source, read once per scrape.
type admissionCollector struct{ m *Metrics }

func (c admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- admLimitDesc
	ch <- admInFlightDesc
	ch <- admQueuedDesc
	ch <- admTotalDesc
}

func (c admissionCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.admission.Load()
	if f == nil || *f == nil {
		return
	}
	a := (*f)()
	ch <- prometheus.MustNewConstMetric(admLimitDesc, prometheus.GaugeValue, float64(a.Limit))
	ch <- prometheus.MustNewConstMetric(admInFlightDesc, prometheus.GaugeValue, float64(a.InFlight))
	ch <- prometheus.MustNewConstMetric(admQueuedDesc, prometheus.GaugeValue, float64(a.Queued))
	for _, e := range []struct {
		event string
		n     uint64
	}{{"held", a.Held}, {"answered", a.Answered}, {"dropped", a.Dropped}, {"expired", a.Expired}} {
		ch <- prometheus.MustNewConstMetric(admTotalDesc, prometheus.CounterValue, float64(e.n), e.event)
	}
}
