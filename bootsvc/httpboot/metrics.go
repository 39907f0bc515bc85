package httpboot

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is gitboot's Prometheus registry, served at GET /metrics. The
// other services record into it through its plain methods (DHCPReply,
// TFTPTransfer, ObserveBuild, ObserveApply), so that they need not import
// Prometheus: each declares the small interface it uses, and the daemon
// passes one *Metrics to all of them. Safe for concurrent use.
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
	store     atomic.Pointer[status.Store]
	handler   http.Handler

	// cached per (route, code) children, so the request path does not
	// hash label values.
	cache [numRoutes][len(cachedCodes)]atomic.Pointer[counterPair]
}

type counterPair struct{ requests, bytes prometheus.Counter }

var cachedCodes = [...]int{200, 206, 304, 400, 403, 404, 405, 416, 500, 503}

// NewMetrics creates the registry with every gitboot metric.
func NewMetrics() *Metrics {
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
	m.reg.MustRegister(m.requests, m.bytes, m.conns, m.dhcp, m.tftp, m.tftpBytes, m.build, m.apply,
		stageCollector{m})
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

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

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// observe counts one HTTP response.
func (m *Metrics) observe(r route, code int, n int64) {
	ci := -1
	for i, c := range cachedCodes {
		if c == code {
			ci = i
			break
		}
	}
	if ci < 0 {
		cs := strconv.Itoa(code)
		m.requests.WithLabelValues(r.String(), cs).Inc()
		m.bytes.WithLabelValues(r.String(), cs).Add(float64(n))
		return
	}
	p := m.cache[r][ci].Load()
	if p == nil {
		cs := strconv.Itoa(code)
		p = &counterPair{m.requests.WithLabelValues(r.String(), cs), m.bytes.WithLabelValues(r.String(), cs)}
		m.cache[r][ci].Store(p)
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
	status.StageNotFound, status.StageBadRequest, status.StageDenied,
}

func (c stageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nodesDesc }

func (c stageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.store.Load()
	if s == nil {
		return
	}
	counts := s.StageCounts()
	for _, st := range allStages {
		if m, err := prometheus.NewConstMetric(nodesDesc, prometheus.GaugeValue, float64(counts[st]), string(st)); err == nil {
			ch <- m
		}
	}
}
