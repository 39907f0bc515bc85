package httpboot

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"sync"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// fail answers code with why in the body, logs the request and records
// BAD_REQUEST (attributed to the node whose address sent it, if any).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed, code int, why string) {
	h.bad.Warn("http: bad request", "code", code, "why", why, "method", clip(r.Method),
		"path", clip(r.URL.EscapedPath()), "remote", r.RemoteAddr)
	if !p.admin { // the admin listener's requests are no node's
		ev := status.Event{MAC: p.mac, Stage: status.StageBadRequest, Sent: clip(r.URL.EscapedPath()), Addr: addr}
		if n, ok := snap.NodeByIP(addr); ok {
			ev.Node = n.Name
		}
		h.rec.Record(ev)
	}
	w.Header()["Content-Type"] = hdrText
	w.Header()["X-Content-Type-Options"] = hdrNoSniff
	w.WriteHeader(code)
	w.Write([]byte(http.StatusText(code) + ": " + why + "\n"))
}

func (h *Handler) serveStatus(w http.ResponseWriter, snap *bootsvc.Snapshot) {
	var names []string
	var server, commit string
	interval := status.DefaultInterval
	if snap != nil {
		names = make([]string, len(snap.Nodes))
		for i := range snap.Nodes {
			names[i] = snap.Nodes[i].Name
		}
		server, commit = snap.Server.Name, snap.Commit
		if snap.Server.RuntimeInterval > 0 {
			interval = snap.Server.RuntimeInterval
		}
	}
	rep := h.store.Report(server, commit, interval, names)
	rep.MarkReboots(CurrentDigests(snap))
	rep.MarkBMC(CurrentBMC(snap))
	w.Header()["Content-Type"] = hdrJSON
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		h.log.Debug("http: writing status", "err", err)
	}
}

// scriptPool holds buffers for iPXE scripts.
var scriptPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (h *Handler) serveScript(w http.ResponseWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	if snap == nil {
		w.Header()["Content-Type"] = hdrText
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no snapshot\n"))
		return
	}
	bp := scriptPool.Get().(*[]byte)
	buf, node := AppendScript((*bp)[:0], snap, p.mac)
	ev := status.Event{MAC: p.mac, Stage: status.StageIPXE, Addr: addr}
	if node != nil {
		ev.Node = node.Name
	} else {
		h.bad.Info("http: unknown MAC asked for its iPXE script", "mac", p.mac, "remote", r.RemoteAddr)
	}
	h.record(r, snap, node, ev)
	w.Header()["Content-Type"] = hdrText
	w.Write(buf)
	*bp = buf
	scriptPool.Put(bp)
}

// remoteAddr is the client's IP address (zero if unparsable).
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// clip bounds a client-supplied string for logs and records.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}
