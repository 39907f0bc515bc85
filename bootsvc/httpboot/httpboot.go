// Package httpboot is gitboot's HTTP boot service: per-node iPXE scripts,
// the kernel, image and overlay artifacts, node status (GET /status),
// Prometheus metrics and a health check. It serves the *bootsvc.Snapshot it
// is handed (Update swaps it atomically) and records every request's stage
// in a status.Recorder. The daemon (cmd/gitboot serve) imports it; it never
// imports hclspec or reconcile.
//
// Routes, and nothing else:
//
//	GET /ipxe/{mac}                the node's iPXE script (unknown MAC: discovery script)
//	GET /kernel/{mac}              node.Artifacts.Kernel
//	GET /image/{mac}               node.Artifacts.Image
//	GET /extra/{mac}/{n}           node.Artifacts.Extra[n]
//	GET /system/{mac}              node.Artifacts.System
//	GET /runtime/{mac}             node.Artifacts.Runtime (secure_runtime: see below)
//	GET /kernel/{mac}/{hex}        the same artifacts by content: {hex} is the 64 hex
//	GET /image/{mac}/{hex}         digits of the artifact's sha256; served from the
//	GET /extra/{mac}/{n}/{hex}     current snapshot or one replaced less than
//	GET /system/{mac}/{hex}        Config.Grace ago, else 404. The iPXE script
//	GET /runtime/{mac}/{hex}       names these.
//	GET /runtime-initrd/{mac}      node.Artifacts.Runtime wrapped: a cpio (newc) of one
//	GET /runtime-initrd/{mac}/{hex} file, /.gitboot-runtime.img.gz (0600, root), the
//	                               artifact's bytes, and no directory, sent as a gzip
//	                               member of stored (uncompressed) blocks; the script's
//	                               runtime initrd without secure_runtime, so the kernel
//	                               touches no file of the image and /init has the agent
//	                               apply it (--once --from). Stage, grace period and
//	                               secure_runtime as /runtime/; Range and HEAD work on
//	                               the wrapped bytes; its ETag is the digest + "+initrd"
//	GET /status                    status.Report as JSON, with needs_reboot per node
//	GET /metrics                   Prometheus text format
//	GET /healthz                   "ok" once a snapshot is loaded
//	GET /inventory                 Config.Inventory's JSON (ETag: its sha256); 503 until there is one
//	POST /reconcile                calls Config.Reconcile; loopback clients only (else 403), 202
//	GET /rollout                   Config.Rollout: the current or last rollout; nil: 404
//	POST /rollout, DELETE /rollout Config.Rollout: start or cancel one; loopback clients only (else 403)
//	GET /check-path?image=P        whether the server allows a repository to name P (or
//	GET /check-path?ipxe_dir=P     ipxe_dir=P), by Config.CheckPath: JSON, for plan --server
//	GET /                          Config.UI: the status page (bootsvc/webui); nil: 404
//	GET /events                    Config.UI: the page's Server-Sent Events; nil: 404
//	GET /stage1/{mac}              node.Artifacts.Stage1: a two-stage image's stage-one
//	GET /stage1/{mac}/{hex}        initramfs (see AppendScript); stage KERNEL
//	POST /init-failed/{mac}        the node's /init could not exec its init: the body
//	                               (plain text, at most 1 KiB) is the reason, recorded
//	                               as INIT_FAILED; from the node's own address only (403)
//
// Operator routes are only on the admin listener (admin.go), 404 on the
// boot listener; a boot request moves a node's status only from the
// node's own address (ownaddr.go), else it is logged NOT_OWN_ADDRESS.
//
// With secure_runtime, a runtime overlay (either form) goes only to a
// request from its node's own address and a source port < 1024 that, when
// the node has an asset key, carries it in the X-Gitboot-Asset-Key header
// (compared by its keyed digest, in constant time); anything else is 403 with no
// byte of the overlay, logged with the reason and recorded as DENIED. The
// iPXE script then loads no runtime overlay: the node's agent fetches it.
//
// Connections are shared fairly among client addresses (Config.MaxConns,
// MaxConnsPerClient, ConnReserve, ShortIdleTimeout; see limitListener):
// one address cannot hold the slots others need, and near the cap idle
// keep-alive connections are closed after a short timeout. Bad requests
// and refused connections are logged at a bounded rate (internal/ratelog).
//
// HEAD works wherever GET does. A MAC is accepted with ':' or '-' in any
// case; a digest only in lower case. Malformed paths are 400, unknown ones
// 404; both are logged and recorded as BAD_REQUEST, with the reason in the
// body. A missing artifact is 404 and NOT_FOUND.
package httpboot

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/metrics"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/ratelog"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxConns          = 1024
	DefaultMaxConnsPerClient = 64
	DefaultShortIdleTimeout  = 2 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultWriteIdleTimeout  = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultShutdownTimeout   = 5 * time.Second
)

// Config configures a Handler.
type Config struct {
	// Snapshot is the first snapshot served; nil until Update.
	Snapshot *bootsvc.Snapshot
	// Status is the store behind GET /status and the nodes metric; nil:
	// a new in-memory store.
	Status *status.Store
	// Recorder receives every request's event; nil: Status.
	Recorder status.Recorder
	// Metrics is the registry served at /metrics; nil: a new one.
	Metrics *metrics.Metrics
	// Logger; nil: slog.Default().
	Logger *slog.Logger

	// MaxConns bounds concurrent connections; more wait to be accepted.
	MaxConns int
	// MaxConnsPerClient bounds the connections one client address is
	// served at once; more wait (as many again), and beyond that get 503
	// at once. Zero: DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	// ConnReserve is how many of MaxConns are kept for client addresses
	// that hold no connection, so a new client is served while others
	// hold the rest; once fewer than ConnReserve are free, keep-alive
	// connections idle for ShortIdleTimeout are closed. Zero: MaxConns/16
	// (at least 1).
	ConnReserve int
	// ShortIdleTimeout is how long a keep-alive connection may sit idle
	// near the cap (see ConnReserve). Zero: DefaultShortIdleTimeout.
	ShortIdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle that long.
	IdleTimeout time.Duration
	// WriteIdleTimeout drops a connection whose writes make no progress
	// for that long. It is not a bound on the whole response: a
	// multi-hundred-MB download may take as long as it needs while the
	// client keeps reading.
	WriteIdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; a longer
	// request gets 431 from net/http.
	MaxHeaderBytes int
	// ShutdownTimeout is how long Serve waits for requests in flight
	// when its context ends before it closes their connections.
	ShutdownTimeout time.Duration

	// Grace is how long a snapshot replaced by Update stays available
	// to digest URLs (/kernel/{mac}/{hex} ...), so that a node booting
	// from the old script still gets every file it names; at most
	// MaxRetired snapshots are kept. Zero: DefaultGrace; negative: none.
	Grace time.Duration
	// Now is the clock for the grace period; nil: time.Now.
	Now func() time.Time

	// Inventory returns the running inventory as JSON for GET /inventory
	// (so that `gitboot plan --server URL` can diff against it). It is
	// called on every request and must return quickly; its Content is
	// only read. nil, or a nil or empty result: 503 "no inventory yet".
	Inventory func() *EncodedInventory
	// Reconcile asks the reconciler for a pass, for POST /reconcile from
	// a loopback address (a post-receive hook). It is called on the
	// request's goroutine and must not block: signal the loop (a
	// non-blocking send on a buffered channel) and return. nil: the route
	// is 404.
	Reconcile func()
	// Apply applies a saved plan (the body of POST /apply, at most
	// MaxApplyBody bytes) and returns the HTTP status and JSON answer. It
	// may take as long as a build. Loopback clients only; nil: 404.
	Apply func(ctx context.Context, plan []byte) (int, []byte)
	// Power switches nodes through their BMCs for POST /power (the body,
	// at most MaxPowerBody bytes, is the request; the answer JSON). It
	// takes as long as the BMCs do. Loopback clients only (credentials
	// stay on the server); nil: 404.
	Power func(ctx context.Context, req []byte) (int, []byte)
	// DHCPAddr is the address a MAC's last DHCP exchange showed
	// (dhcp.Seen.Addr): a node's own address without a declared ip or in
	// proxy mode (ownaddr.go). nil: only declared addresses count.
	DHCPAddr func(mac string) (netip.Addr, bool)
	// AssetKeySecret keys the nodes' asset key digests ("hmac-sha256:...",
	// reconcile.AssetKeySecret). nil: only plain digests can match.
	AssetKeySecret []byte
	// CheckPath answers GET /check-path for `gitboot plan --server`:
	// whether a repository may name path as an image source (kind
	// "image") or ipxe_dir (kind "ipxe_dir") on this server, resolved
	// here where the files are, and the directories allowed for that
	// kind. It must return quickly. nil: the route is 404.
	CheckPath func(kind, path string) (allowed bool, roots []string)
	// UI serves GET / and GET /events (the web status page); nil: both
	// are 404 (serve --ui=false).
	UI http.Handler
	// Rollout serves /rollout (rollout.Manager): GET from anywhere,
	// POST and DELETE from a loopback address only. nil: 404.
	Rollout http.Handler
	// OverlayKey signs every runtime overlay sent (see sign.go); nil:
	// none is signed, and agents refuse them.
	OverlayKey ed25519.PrivateKey
}

// Handler is the HTTP boot service. Create it with New.
type Handler struct {
	cfg  Config
	snap atomic.Pointer[bootsvc.Snapshot]
	// retired holds the snapshots Update replaced, still within their
	// grace period (nil: none); updateMu serializes Update, never
	// requests.
	retired  atomic.Pointer[retiredList]
	updateMu sync.Mutex
	store    *status.Store
	rec      status.Recorder
	metrics  *metrics.Metrics
	// routeMetrics are the request counters of each route.
	routeMetrics [numRoutes]*metrics.HTTPRoute
	log          *slog.Logger
	// bad logs bad requests and refused connections at a bounded rate.
	bad *ratelog.Logger
	// ll is the listener of the running Serve (nil before), for ConnStats.
	ll atomic.Pointer[limitListener]
}

// New creates a Handler.
func New(cfg Config) *Handler {
	if cfg.Status == nil {
		cfg.Status = status.NewMemory()
	}
	if cfg.Recorder == nil {
		cfg.Recorder = cfg.Status
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerClient <= 0 {
		cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if cfg.ConnReserve <= 0 {
		cfg.ConnReserve = max(cfg.MaxConns/16, 1)
	}
	cfg.ConnReserve = min(cfg.ConnReserve, cfg.MaxConns-1)
	if cfg.ShortIdleTimeout <= 0 {
		cfg.ShortIdleTimeout = DefaultShortIdleTimeout
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteIdleTimeout <= 0 {
		cfg.WriteIdleTimeout = DefaultWriteIdleTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, store: cfg.Status, rec: cfg.Recorder, metrics: cfg.Metrics, log: cfg.Logger,
		bad: ratelog.New(cfg.Logger, 0, 0)}
	h.metrics.SetStatus(cfg.Status)
	for r := range h.routeMetrics {
		h.routeMetrics[r] = h.metrics.HTTPRoute(route(r).String())
	}
	if cfg.Snapshot != nil {
		h.snap.Store(cfg.Snapshot)
	}
	return h
}

// Snapshot returns the snapshot being served (nil before the first).
func (h *Handler) Snapshot() *bootsvc.Snapshot { return h.snap.Load() }

// Metrics returns the handler's metrics registry.
func (h *Handler) Metrics() *metrics.Metrics { return h.metrics }

// Serve serves HTTP on ln until ctx ends, then shuts down: requests in
// flight get ShutdownTimeout to finish before their connections are
// closed. It returns nil after a shutdown caused by ctx.
func (h *Handler) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: h.cfg.ReadHeaderTimeout,
		IdleTimeout:       h.cfg.IdleTimeout,
		MaxHeaderBytes:    h.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ll := newLimitListener(ln, limitConfig{maxConns: h.cfg.MaxConns, perClient: h.cfg.MaxConnsPerClient,
		reserve: h.cfg.ConnReserve, idleShort: h.cfg.ShortIdleTimeout, writeIdle: h.cfg.WriteIdleTimeout}, h.metrics, h.bad)
	srv.ConnState = ll.connState
	h.ll.Store(ll)
	defer ll.Close()
	return h.serveUntil(ctx, srv, func() error { return srv.Serve(ll) })
}

// ConnStats reports what the connection limits of the running (or last)
// Serve did; zero before Serve.
func (h *Handler) ConnStats() ConnStats {
	ll := h.ll.Load()
	if ll == nil {
		return ConnStats{}
	}
	return ll.stats()
}

// ServeHTTP implements http.Handler: the boot listener (what nodes fetch
// or post; the operator routes are on Admin, ServeAdmin, and 404 here).
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h.serveHTTP(rw, r, parsed{})
}

// serveHTTP serves r on the listener whose flags (admin, trusted) on
// carries.
func (h *Handler) serveHTTP(rw http.ResponseWriter, r *http.Request, on parsed) {
	w := respPool.Get().(*respWriter)
	w.ResponseWriter, w.code, w.n = rw, 0, 0
	p := onListener(parsePath(r.URL.Path, r.URL.RawPath), on)
	if p.other {
		h.serveOther(w, r, p)
	} else {
		h.serve(w, r, p)
	}
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	h.routeMetrics[p.route].Observe(code, w.n)
	w.ResponseWriter = nil
	respPool.Put(w)
}

var (
	hdrText    = []string{"text/plain; charset=utf-8"}
	hdrJSON    = []string{"application/json"}
	hdrOctet   = []string{"application/octet-stream"}
	hdrNoSniff = []string{"nosniff"}
	hdrAllow   = []string{"GET, HEAD"}
	hdrClose   = []string{"close"}
)

func (h *Handler) serve(w *respWriter, r *http.Request, p parsed) {
	addr := remoteAddr(r)
	snap := h.snap.Load()
	switch p.route { // the routes that take POST
	case routeRollout:
		h.serveRollout(w, r, snap, addr, p)
		return
	case routeReconcile:
		h.serveReconcile(w, r, snap, addr, p)
		return
	case routeApply:
		h.serveApply(w, r, snap, addr, p)
		return
	case routePower:
		h.servePower(w, r, snap, addr, p)
		return
	case routeInitFailed:
		h.serveInitFailed(w, r, snap, addr, p)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = hdrAllow
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now())
			w.Header()["Connection"] = hdrClose
		}
		h.fail(w, r, snap, addr, p, http.StatusMethodNotAllowed, "only GET and HEAD")
		return
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		// No route takes a body: do not wait for one.
		http.NewResponseController(w).SetReadDeadline(time.Now())
		w.Header()["Connection"] = hdrClose
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "request has a body")
		return
	}
	switch p.route {
	case routeNone:
		if p.bad {
			h.fail(w, r, snap, addr, p, http.StatusBadRequest, p.why)
			return
		}
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path")
	case routeHealthz:
		w.Header()["Content-Type"] = hdrText
		if snap == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("no snapshot\n"))
			return
		}
		w.Write([]byte("ok\n"))
	case routeMetrics:
		h.metrics.Handler().ServeHTTP(w, r)
	case routeUI, routeEvents:
		if h.cfg.UI == nil {
			h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (the status page is off)")
			return
		}
		h.cfg.UI.ServeHTTP(w, r)
	case routeStatus:
		h.serveStatus(w, snap)
	case routeInventory:
		h.serveInventory(w, r)
	case routeCheckPath:
		h.serveCheckPath(w, r, snap, addr, p)
	case routeIPXE:
		h.serveScript(w, r, snap, addr, p)
	case routeBoot:
		h.serveBootFile(w, r, snap, addr, p)
	default:
		h.serveArtifact(w, r, snap, addr, p)
	}
}

// serveUntil runs serve (srv's Serve on its listener) until it fails or
// ctx ends; then it shuts srv down gracefully within ShutdownTimeout
// (closing it after that) and returns serve's error, if not the closing.
func (h *Handler) serveUntil(ctx context.Context, srv *http.Server, serve func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
