package httpboot

import (
	"net/http"
	"net/netip"

	"github.com/gitboot/gitboot/bootsvc"
)

// serveRollout answers /rollout with Config.Rollout: GET and HEAD from
// anywhere (what the status page shows too); POST (start a rollout) and
// DELETE (cancel it) from a loopback address only, like POST /apply, so
// only the server's own host can reboot nodes. Without a Rollout handler
// the route does not exist (404).
func (h *Handler) serveRollout(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	switch {
	case h.cfg.Rollout == nil:
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (this server runs no rollouts)")
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		h.cfg.Rollout.ServeHTTP(w, r)
	case r.Method != http.MethodPost && r.Method != http.MethodDelete:
		w.Header()["Allow"] = []string{"GET, HEAD, POST, DELETE"}
		h.fail(w, r, snap, addr, p, http.StatusMethodNotAllowed, "only GET, POST and DELETE")
	case !p.local(addr):
		h.forbidRemote(w, r, snap, addr, p)
	default:
		h.log.Info("http: rollout request", "method", r.Method, "remote", r.RemoteAddr)
		h.cfg.Rollout.ServeHTTP(w, r)
	}
}
