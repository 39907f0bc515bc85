package httpboot

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// The routes split between two listeners. The boot listener (Serve,
// ServeHTTP) serves only what nodes fetch or post: iPXE scripts, boot
// files, artifacts, runtime initrds and init-failed reports. The admin
// listener (ServeAdmin, Admin) serves the operators: the status page and
// its events, /status, /inventory, /metrics, /check-path, /rollout,
// POST /reconcile, /apply and /power. /healthz is on both. A route asked
// on the other listener is 404.
var adminRoutes = [numRoutes]bool{
	routeStatus:    true,
	routeMetrics:   true,
	routeInventory: true,
	routeReconcile: true,
	routeApply:     true,
	routePower:     true,
	routeRollout:   true,
	routeCheckPath: true,
	routeUI:        true,
	routeEvents:    true,
}

// onListener returns p as the listener on (its admin and trusted flags)
// serves it: a route of the other listener becomes "no such path".
func onListener(p parsed, on parsed) parsed {
	if p.route != routeHealthz && p.route != routeNone && adminRoutes[p.route] != on.admin {
		p = parsed{other: true}
	}
	if on.admin && p.bad {
		p = parsed{other: true} // a malformed node path is simply not an admin path
	}
	p.admin, p.trusted = on.admin, on.trusted
	return p
}

// serveOther answers a request for the other listener's route: 404,
// whatever the method.
func (h *Handler) serveOther(w *respWriter, r *http.Request, p parsed) {
	why := "no such path (operator routes are on the admin listener, --listen-admin)"
	if p.admin {
		why = "no such path (boot routes are on the boot listener)"
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		http.NewResponseController(w).SetReadDeadline(time.Now())
		w.Header()["Connection"] = hdrClose
	}
	h.fail(w, r, h.snap.Load(), remoteAddr(r), p, http.StatusNotFound, why)
}

// local reports whether a request that changes state (POST /reconcile,
// /apply, /power, /rollout) may: from a loopback address, or carrying the
// admin token.
func (p parsed) local(addr netip.Addr) bool { return p.trusted || addr.IsLoopback() }

// AdminCookie is the cookie the admin listener sets when the status page
// is opened with ?token=: a browser's EventSource cannot send an
// Authorization header, so the page and its events authenticate with it.
const AdminCookie = "gitboot_admin"

// MinAdminTokenLen is the shortest admin token accepted.
const MinAdminTokenLen = 16

// adminHandler is the admin listener's http.Handler.
type adminHandler struct {
	h *Handler
	// token is the sha256 of the bearer token and cookie the sha256 of
	// the cookie value derived from it; both nil without a token.
	token, cookie []byte
	cookieValue   string
}

// Admin returns the admin listener's handler. With a token, every
// request must carry it: "Authorization: Bearer TOKEN", or the
// AdminCookie a request for the status page with ?token=TOKEN sets
// (HttpOnly, SameSite=Strict; answered by a redirect to the page without
// the token in its URL); anything else is 401. Without a token the
// listener must be bound to a loopback address (ServeAdmin checks), and
// state changes are taken from loopback clients only.
func (h *Handler) Admin(token string) http.Handler {
	a := &adminHandler{h: h}
	if token != "" {
		t := sha256.Sum256([]byte(token))
		a.token = t[:]
		c := sha256.Sum256([]byte("gitboot admin cookie\x00" + token))
		a.cookieValue = hex.EncodeToString(c[:])
		cc := sha256.Sum256([]byte(a.cookieValue))
		a.cookie = cc[:]
	}
	return a
}

// matches compares the sha256 of got with want in constant time.
func matches(got string, want []byte) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

func (a *adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.token == nil {
		a.h.serveHTTP(w, r, parsed{admin: true})
		return
	}
	if r.URL.Path == "/" && r.URL.Query().Has("token") {
		a.login(w, r)
		return
	}
	if !a.authorized(r) {
		a.h.bad.Warn("http: admin request without a valid token", "method", clip(r.Method),
			"path", clip(r.URL.EscapedPath()), "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="gitboot admin"`)
		http.Error(w, "Unauthorized: this listener needs the admin token (Authorization: Bearer TOKEN, or open /?token=TOKEN once in a browser)", http.StatusUnauthorized)
		return
	}
	a.h.serveHTTP(w, r, parsed{admin: true, trusted: true})
}

// authorized reports whether r carries the token or the cookie.
func (a *adminHandler) authorized(r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && matches(strings.TrimSpace(tok), a.token)
	}
	if c, err := r.Cookie(AdminCookie); err == nil {
		return matches(c.Value, a.cookie)
	}
	return false
}

// login answers GET /?token=TOKEN: a valid token sets the cookie and
// redirects to / (so the token leaves the address bar and history);
// anything else is 401.
func (a *adminHandler) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !matches(r.URL.Query().Get("token"), a.token) {
		a.h.bad.Warn("http: wrong admin token in the page's URL", "remote", r.RemoteAddr)
		http.Error(w, "Unauthorized: wrong token", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: AdminCookie, Value: a.cookieValue, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	a.h.log.Info("http: admin page opened with the token", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// ErrAdminNeedsToken is returned by ServeAdmin for a listener on a
// non-loopback address without a token.
var ErrAdminNeedsToken = errors.New("an admin listener on a non-loopback address needs an admin token")

// CheckAdminAddr returns ErrAdminNeedsToken (wrapped, naming addr) when
// addr, a listener's address, is not a loopback address and token is
// empty. An address of every interface (":9875", "0.0.0.0") is not a
// loopback address.
func CheckAdminAddr(addr net.Addr, token string) error {
	if token != "" {
		return nil
	}
	var ip netip.Addr
	if tcp, ok := addr.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(tcp.IP)
	}
	if !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%s: %w", addr, ErrAdminNeedsToken)
	}
	return nil
}

// ServeAdmin serves the admin listener's routes (see Admin) on ln until
// ctx ends. It refuses a listener on a non-loopback address without a
// token (ErrAdminNeedsToken) before serving anything.
func (h *Handler) ServeAdmin(ctx context.Context, ln net.Listener, token string) error {
	if err := CheckAdminAddr(ln.Addr(), token); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h.Admin(token),
		ReadHeaderTimeout: h.cfg.ReadHeaderTimeout,
		IdleTimeout:       h.cfg.IdleTimeout,
		MaxHeaderBytes:    h.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	return h.serveUntil(ctx, srv, func() error { return srv.Serve(ln) })
}
