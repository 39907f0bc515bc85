// Package metrics is gitboot's Prometheus registry: one *Metrics holds
// every gitboot_* metric, and its Handler serves them in the text format
// (bootsvc/httpboot mounts it at GET /metrics).
//
// The daemon (cmd/gitboot serve) creates one with New and hands it to every
// service: bootsvc/httpboot imports this package to record requests and
// connections; bootsvc/tftp and bootsvc/dhcp record through plain methods
// (TFTPTransfer, DHCPReply) behind a small interface each declares, so they
// import neither this package nor Prometheus; the reconcile loop calls
// ObserveBuild, ObserveApply, ObserveReconcile and SetApplied. It imports
// bootsvc/status only for the stage names of the gitboot_nodes gauge.
package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Results of one reconcile pass, the values of gitboot_reconcile_total's
// result label.
const (
	ReconcileApplied   = "applied"   // a new commit was applied
	ReconcileUnchanged = "unchanged" // the desired state was already applied
	ReconcileRejected  = "rejected"  // the commit is invalid; the last good state stays
	ReconcilePlanned   = "planned"   // auto_apply = false: planned, waits for gitboot apply
	ReconcileError     = "error"     // a transient failure (fetch, build); retried
)

// StageCounter reports how many nodes show each stage; *status.Store is
// one.
type StageCounter interface {
	StageCounts() map[status.Stage]int
}

// Metrics is gitboot's Prometheus registry. Safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	conns     prometheus.Gauge
	dhcp      *prometheus.CounterVec
	tftp      *prometheus.CounterVec
	tftpBytes prometheus.Counter
	build     prometheus.Histogram
	apply     prometheus.Histogram
	reconcile *prometheus.CounterVec
	failures  *prometheus.CounterVec
	rejectedT prometheus.Gauge
	applied   prometheus.Gauge
	stages    atomic.Pointer[stageCounterBox]
	admission atomic.Pointer[func() Admission]
	buildInfo *prometheus.GaugeVec
	handler   http.Handler
}

type stageCounterBox struct{ StageCounter }

// New creates the registry with every gitboot metric.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitboot_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitboot_http_response_bytes_total", Help: "HTTP response body bytes by route and status code.",
	}, []string{"route", "code"})
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gitboot_http_connections", Help: "Open HTTP connections.",
	})
	m.dhcp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitboot_dhcp_replies_total", Help: "DHCP replies sent, by message type.",
	}, []string{"type"})
	m.tftp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitboot_tftp_transfers_total", Help: "TFTP transfers, by result.",
	}, []string{"result"})
	m.tftpBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gitboot_tftp_bytes_total", Help: "Bytes sent by TFTP.",
	})
	m.build = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gitboot_build_duration_seconds", Help: "Time to build a snapshot's boot artifacts.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	})
	m.apply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gitboot_apply_duration_seconds", Help: "Time to apply a commit.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	})
	m.reconcile = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitboot_reconcile_total", Help: "Reconcile passes, by result (applied, unchanged, rejected, planned, error).",
	}, []string{"result"})
	for _, r := range []string{ReconcileApplied, ReconcileUnchanged, ReconcileRejected, ReconcilePlanned, ReconcileError} {
		m.reconcile.WithLabelValues(r) // show zeros before the first pass
	}
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitboot_reload_failures_total",
		Help: "Reloads (evaluations of a new commit, or retries) that did not apply, by reason: invalid (a rejected commit), too_expensive (over --reload-timeout), error (transient: retried).",
	}, []string{"reason"})
	for _, r := range []string{ReloadInvalid, ReloadTooExpensive, ReloadError} {
		m.failures.WithLabelValues(r)
	}
	m.rejectedT = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gitboot_last_rejected_timestamp_seconds", Help: "When a commit was last rejected (Unix time); 0 before the first rejection.",
	})
	m.applied = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gitboot_applied_timestamp_seconds", Help: "When the served state was last applied (Unix time); 0 before the first apply.",
	})
	m.reg.MustRegister(m.requests, m.bytes, m.conns, m.dhcp, m.tftp, m.tftpBytes, m.build, m.apply,
		m.reconcile, m.failures, m.rejectedT, m.applied, stageCollector{m}, admissionCollector{m})
	m.registerRuntime()
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// SetStatus makes s the source of gitboot_nodes{stage}; until then the
// gauge is absent. httpboot sets its status store.
func (m *Metrics) SetStatus(s StageCounter) { m.stages.Store(&stageCounterBox{s}) }

// DHCPReply counts one DHCP reply of the given type ("OFFER", "ACK", "NAK",
// "PROXY"...).
func (m *Metrics) DHCPReply(msgType string) { m.dhcp.WithLabelValues(msgType).Inc() }

// TFTPTransfer counts one TFTP transfer with its result ("ok", "error",
// "denied", "not_found") and the bytes sent.
func (m *Metrics) TFTPTransfer(result string, bytes int64) {
	m.tftp.WithLabelValues(result).Inc()
	if bytes > 0 {
		m.tftpBytes.Add(float64(bytes))
	}
}

// ObserveBuild records how long building a snapshot's artifacts took.
func (m *Metrics) ObserveBuild(d time.Duration) { m.build.Observe(d.Seconds()) }

// ObserveApply records how long applying a commit took.
func (m *Metrics) ObserveApply(d time.Duration) { m.apply.Observe(d.Seconds()) }

// ObserveReconcile counts one reconcile pass with its result, one of the
// Reconcile* constants (the same strings as reconcile's Result* values;
// another value becomes a label value of its own: keep to these).
func (m *Metrics) ObserveReconcile(result string) { m.reconcile.WithLabelValues(result).Inc() }

// Reasons of a failed reload, the values of gitboot_reload_failures_total's
// reason label.
const (
	ReloadInvalid      = "invalid"       // the commit is rejected: only a new commit fixes it
	ReloadTooExpensive = "too_expensive" // rejected: evaluating and building it took longer than --reload-timeout
	ReloadError        = "error"         // transient (disk, image source, port); retried
)

// ReloadFailed counts one failed reload with its reason, one of the Reload*
// constants; a rejection (invalid or too expensive) also sets
// gitboot_last_rejected_timestamp_seconds to at.
func (m *Metrics) ReloadFailed(reason string, at time.Time) {
	m.failures.WithLabelValues(reason).Inc()
	if reason != ReloadError {
		m.rejectedT.Set(float64(at.UnixNano()) / 1e9)
	}
}

// SetApplied records when the served state was applied
// (gitboot_applied_timestamp_seconds).
func (m *Metrics) SetApplied(t time.Time) { m.applied.Set(float64(t.UnixNano()) / 1e9) }

// HTTPConnOpened and HTTPConnClosed track gitboot_http_connections.
func (m *Metrics) HTTPConnOpened() { m.conns.Inc() }

// HTTPConnClosed: see HTTPConnOpened.
func (m *Metrics) HTTPConnClosed() { m.conns.Dec() }

// HTTPRoute returns the request counters of one HTTP route (its route
// label). Look it up once and call Observe per request: it caches the
// counters of common status codes, so a request neither hashes labels nor
// allocates.
func (m *Metrics) HTTPRoute(route string) *HTTPRoute { return &HTTPRoute{m: m, route: route} }

// HTTPRoute counts the responses of one route; see Metrics.HTTPRoute.
type HTTPRoute struct {
	m     *Metrics
	route string
	cache [len(cachedCodes)]atomic.Pointer[counterPair]
}

type counterPair struct{ requests, bytes prometheus.Counter }

var cachedCodes = [...]int{200, 202, 206, 304, 400, 403, 404, 405, 416, 500, 503}

// Observe counts one response with its status code and body bytes.
func (r *HTTPRoute) Observe(code int, n int64) {
	ci := -1
	for i, c := range cachedCodes {
		if c == code {
			ci = i
			break
		}
	}
	if ci < 0 {
		cs := strconv.Itoa(code)
		r.m.requests.WithLabelValues(r.route, cs).Inc()
		r.m.bytes.WithLabelValues(r.route, cs).Add(float64(n))
		return
	}
	p := r.cache[ci].Load()
	if p == nil {
		cs := strconv.Itoa(code)
		p = &counterPair{r.m.requests.WithLabelValues(r.route, cs), r.m.bytes.WithLabelValues(r.route, cs)}
		r.cache[ci].Store(p)
	}
	p.requests.Inc()
	if n > 0 {
		p.bytes.Add(float64(n))
	}
}

// stageCollector reports gitboot_nodes{stage} from the status store.
type stageCollector struct{ m *Metrics }

var nodesDesc = prometheus.NewDesc("gitboot_nodes", "Nodes by the stage status shows (errors included).", []string{"stage"}, nil)

var allStages = []status.Stage{
	status.StageDHCP, status.StageTFTP, status.StageIPXE, status.StageKernel, status.StageImage,
	status.StageSystemOverlay, status.StageRuntimeOverlay,
	status.StageNotFound, status.StageBadRequest, status.StageDenied, status.StageInitFailed,
}

func (c stageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nodesDesc }

func (c stageCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.m.stages.Load()
	if b == nil || b.StageCounter == nil {
		return
	}
	counts := b.StageCounts()
	for _, st := range allStages {
		if m, err := prometheus.NewConstMetric(nodesDesc, prometheus.GaugeValue, float64(counts[st]), string(st)); err == nil {
			ch <- m
		}
	}
}
