package httpboot

import (
	"net/http"
	"net/netip"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// NotOwnAddress is the word logged for a request about a node from an
// address that is not the node's own: it is served, but recorded nowhere.
const NotOwnAddress = "NOT_OWN_ADDRESS"

// ownAddr reports whether addr is node's own address: its declared ip,
// or, when it declares none or the server runs DHCP in proxy mode (where
// another server hands out the addresses), the address its last DHCP
// exchange with this server showed (Config.DHCPAddr).
func (h *Handler) ownAddr(snap *bootsvc.Snapshot, node *bootsvc.Node, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	if node.IP.IsValid() && node.IP.Unmap() == addr {
		return true
	}
	if h.cfg.DHCPAddr == nil || (node.IP.IsValid() && (snap == nil || snap.Server.DHCPMode != bootsvc.DHCPProxy)) {
		return false
	}
	a, ok := h.cfg.DHCPAddr(node.MAC)
	return ok && a.Unmap() == addr
}

// record records ev, an event about a request from r, on its node only
// when the request came from the node's own address (ownAddr): a request
// from anywhere else is served as usual but never moves the node's
// stage, timeline, needs-reboot mark or booted commit; it is logged as
// NOT_OWN_ADDRESS at a bounded rate. node is the node ev is about (nil:
// ev.Node looked up in the current snapshot); events about no declared
// node (unknown MACs) are recorded as they are.
func (h *Handler) record(r *http.Request, snap *bootsvc.Snapshot, node *bootsvc.Node, ev status.Event) {
	if ev.Node == "" {
		h.rec.Record(ev)
		return
	}
	if node == nil {
		n, ok := h.snap.Load().NodeByName(ev.Node)
		if !ok {
			h.rec.Record(ev)
			return
		}
		node = n
	}
	if h.ownAddr(snap, node, ev.Addr) {
		h.rec.Record(ev)
		return
	}
	h.bad.Warn("http: "+NotOwnAddress+": a node's file asked from another address; served, not recorded",
		"node", node.Name, "node_ip", node.IP, "stage", ev.Stage, "path", clip(r.URL.Path), "remote", r.RemoteAddr)
}
