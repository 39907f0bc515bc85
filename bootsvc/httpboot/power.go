package httpboot

import (
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
)

// MaxPowerBody bounds the request POST /power reads.
const MaxPowerBody = 1 << 20

// servePower answers POST /power: from a loopback address it hands the
// body to Config.Power and returns its answer; from elsewhere 403, as
// POST /apply. Without a Power func the route does not exist (404).
func (h *Handler) servePower(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	switch {
	case h.cfg.Power == nil:
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (this server takes no power requests)")
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPowerBody))
	if err != nil {
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	code, answer := h.cfg.Power(r.Context(), body)
	h.log.Info("http: power requested", "remote", r.RemoteAddr, "status", code)
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(code)
	w.Write(answer)
}
