package httpboot

import (
	"net/http"
	"net/netip"

	"github.com/gitboot/gitboot/bootsvc"
)

// MaxPowerBody bounds the request POST /power reads.
const MaxPowerBody = 1 << 20

// servePower answers POST /power: from a loopback address it hands the
// body to Config.Power and returns its answer; from elsewhere 403, as
// POST /apply. Without a Power func the route does not exist (404).
func (h *Handler) servePower(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	h.serveLocalPost(w, r, snap, addr, p, localPost{name: "power", body: "the request", max: MaxPowerBody, handle: h.cfg.Power})
}
