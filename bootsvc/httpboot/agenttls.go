package httpboot

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/overlaysig"
)

// The agents' HTTPS listener (the server block's https_port) serves what
// gitboot-agent asks for, and nothing else:
//
//	GET /runtime/{mac}[/{hex}]   the runtime overlay, signed (X-Gitboot-Signature)
//	POST /init-failed/{mac}      the node's /init could not exec its init
//	GET /healthz                 "ok" once a snapshot is loaded
//
// Each as on the plain listener (the same Handler: stage recording,
// secure_runtime, grace period); any other path is 404. The agent pins
// the server's CA (internal/tlsca) and checks every overlay's signature
// (internal/overlaysig), so neither a neighbour answering for the server's
// address nor one altering the bytes gets an overlay applied.

// agentRoute reports whether the agents' listener serves r.
func agentRoute(r route) bool {
	switch r {
	case routeRuntime, routeInitFailed, routeHealthz:
		return true
	}
	return false
}

// AgentHandler returns the handler of the agents' HTTPS listener: the
// agent routes of h, 404 for any other path.
func (h *Handler) AgentHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := parsePath(r.URL.Path, r.URL.RawPath); !agentRoute(p.route) {
			h.bad.Warn("http: not an agent route on the agents' listener", "path", clip(r.URL.EscapedPath()), "remote", r.RemoteAddr)
			w.Header()["Content-Type"] = hdrText
			w.Header()["X-Content-Type-Options"] = hdrNoSniff
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("Not Found: the agents' listener serves /runtime/{mac}, /init-failed/{mac} and /healthz only\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeAgentTLS serves AgentHandler over TLS (tc: the server certificate,
// internal/tlsca Bundle.ServerConfig) on ln until ctx ends, with the same
// connection limits and timeouts as Serve; it returns nil after a
// shutdown caused by ctx.
func (h *Handler) ServeAgentTLS(ctx context.Context, ln net.Listener, tc *tls.Config) error {
	if tc == nil || (len(tc.Certificates) == 0 && tc.GetCertificate == nil) {
		return errors.New("agents' HTTPS listener: no server certificate")
	}
	srv := &http.Server{
		Handler:           h.AgentHandler(),
		ReadHeaderTimeout: h.cfg.ReadHeaderTimeout, // also bounds the TLS handshake
		IdleTimeout:       h.cfg.IdleTimeout,
		MaxHeaderBytes:    h.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		TLSConfig:         tc.Clone(),
	}
	ll := newLimitListener(ln, limitConfig{maxConns: h.cfg.MaxConns, perClient: h.cfg.MaxConnsPerClient,
		reserve: h.cfg.ConnReserve, idleShort: h.cfg.ShortIdleTimeout, writeIdle: h.cfg.WriteIdleTimeout}, h.metrics, h.bad)
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if t, ok := c.(*tls.Conn); ok {
			c = t.NetConn()
		}
		ll.connState(c, st)
	}
	defer ll.Close()
	return h.serveUntil(ctx, srv, func() error { return srv.ServeTLS(ll, "", "") })
}

// signature is the overlay signature of node's runtime overlay a
// (overlaysig.Sign over its MAC and digest), "" without Config.OverlayKey
// or a digest.
func (h *Handler) signature(node *bootsvc.Node, a bootsvc.Artifact) string {
	if h.cfg.OverlayKey == nil || a.Digest == "" {
		return ""
	}
	return overlaysig.Sign(h.cfg.OverlayKey, node.MAC, a.Digest)
}
