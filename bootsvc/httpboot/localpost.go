package httpboot

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
)

// localPost is a route that takes a POST body from the server itself
// only and hands it to a func whose status and JSON answer it returns
// (POST /apply, POST /power).
type localPost struct {
	// name is the route's name in its answers and log: the 404 says
	// "this server takes no NAME requests", the log "http: NAME requested".
	name string
	// body is what the body is, for the error when it cannot be read
	// ("the plan").
	body string
	// max bounds the body.
	max int64
	// handle answers the body; nil: the route does not exist (404).
	handle func(ctx context.Context, body []byte) (int, []byte)
}

// serveLocalPost answers lp: POST from a loopback address only (403
// otherwise), other methods 405.
func (h *Handler) serveLocalPost(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed, lp localPost) {
	switch {
	case lp.handle == nil:
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (this server takes no "+lp.name+" requests)")
		return
	case r.Method != http.MethodPost:
		w.Header()["Allow"] = hdrAllowPost
		h.fail(w, r, snap, addr, p, http.StatusMethodNotAllowed, "only POST")
		return
	case !p.local(addr):
		h.forbidRemote(w, r, snap, addr, p)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lp.max))
	if err != nil {
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "reading "+lp.body+": "+err.Error())
		return
	}
	code, answer := lp.handle(r.Context(), body)
	h.log.Info("http: "+lp.name+" requested", "remote", r.RemoteAddr, "status", code)
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(code)
	w.Write(answer)
}

// forbidRemote answers 403 to a request that changes state from other
// than a loopback address, without reading its body, and closes the
// connection.
func (h *Handler) forbidRemote(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	http.NewResponseController(w).SetReadDeadline(time.Now())
	w.Header()["Connection"] = hdrClose
	h.fail(w, r, snap, addr, p, http.StatusForbidden, "only from the server itself (a loopback address)")
}
