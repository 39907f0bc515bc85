package httpboot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
)

var (
	hdrAllowPost = []string{"POST"}
	hdrNoCache   = []string{"no-cache"}
)

// serveInventory answers GET /inventory with Config.Inventory's JSON, its
// sha256 as the ETag (If-None-Match: 304), or 503 while there is none.
func (h *Handler) serveInventory(w http.ResponseWriter, r *http.Request) {
	var b []byte
	if h.cfg.Inventory != nil {
		b = h.cfg.Inventory()
	}
	if len(b) == 0 {
		w.Header()["Content-Type"] = hdrText
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no inventory yet\n"))
		return
	}
	sum := sha256.Sum256(b)
	hdr := w.Header()
	hdr["Content-Type"] = hdrJSON
	hdr["Cache-Control"] = hdrNoCache
	hdr["Etag"] = []string{`"sha256:` + hex.EncodeToString(sum[:]) + `"`}
	serveContent(w, r, bytes.NewReader(b), int64(len(b)))
}

// serveReconcile answers POST /reconcile: from a loopback address it calls
// Config.Reconcile and answers 202; from elsewhere 403. Without a
// Reconcile func the route does not exist (404). Other methods get 405.
func (h *Handler) serveReconcile(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	hasBody := r.ContentLength != 0 || len(r.TransferEncoding) > 0
	if hasBody {
		// Nothing reads a body: do not wait for one.
		http.NewResponseController(w).SetReadDeadline(time.Now())
		w.Header()["Connection"] = hdrClose
	}
	switch {
	case h.cfg.Reconcile == nil:
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (this server takes no reconcile requests)")
	case r.Method != http.MethodPost:
		w.Header()["Allow"] = hdrAllowPost
		h.fail(w, r, snap, addr, p, http.StatusMethodNotAllowed, "only POST")
	case hasBody:
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "POST /reconcile takes no body")
	case !addr.IsLoopback():
		h.fail(w, r, snap, addr, p, http.StatusForbidden, "only from the server itself (a loopback address)")
	default:
		h.cfg.Reconcile()
		h.log.Info("http: reconcile requested", "remote", r.RemoteAddr)
		w.Header()["Content-Type"] = hdrText
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("reconcile requested\n"))
	}
}

// MaxApplyBody bounds the saved plan POST /apply reads.
const MaxApplyBody = 256 << 20

// serveApply answers POST /apply: from a loopback address it hands the
// body (a saved plan) to Config.Apply and returns its answer; from
// elsewhere 403. Without an Apply func the route does not exist (404).
func (h *Handler) serveApply(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	switch {
	case h.cfg.Apply == nil:
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (this server takes no apply requests)")
		return
	case r.Method != http.MethodPost:
		w.Header()["Allow"] = hdrAllowPost
		h.fail(w, r, snap, addr, p, http.StatusMethodNotAllowed, "only POST")
		return
	case !addr.IsLoopback():
		http.NewResponseController(w).SetReadDeadline(time.Now())
		w.Header()["Connection"] = hdrClose
		h.fail(w, r, snap, addr, p, http.StatusForbidden, "only from the server itself (a loopback address)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxApplyBody))
	if err != nil {
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "reading the plan: "+err.Error())
		return
	}
	code, answer := h.cfg.Apply(r.Context(), body)
	h.log.Info("http: apply requested", "remote", r.RemoteAddr, "status", code)
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(code)
	w.Write(answer)
}
