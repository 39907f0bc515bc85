package httpboot

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// MaxInitFailedReason bounds the reason POST /init-failed/{mac} keeps, in
// bytes; a longer body is cut there.
const MaxInitFailedReason = 1024

// serveInitFailed answers POST /init-failed/{mac}: the node's /init (through
// `gitboot-agent --report-init-failed`, or busybox wget) says it found no
// init to exec, or the exec failed; the body is its reason as plain text.
// Only the node itself may say so: the request must come from the node's
// own address, else 403 (recorded as BAD_REQUEST, like any refused
// request). The reason is cut at MaxInitFailedReason bytes, control
// characters become spaces, and it is recorded as INIT_FAILED on the node.
func (h *Handler) serveInitFailed(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	noBody := func() { // do not wait for a body that is not read
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now())
			w.Header()["Connection"] = hdrClose
		}
	}
	if r.Method != http.MethodPost {
		noBody()
		w.Header()["Allow"] = hdrAllowPost
		h.fail(w, r, snap, addr, p, http.StatusMethodNotAllowed, "only POST")
		return
	}
	if snap == nil {
		noBody()
		w.Header()["Content-Type"] = hdrText
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no snapshot\n"))
		return
	}
	node, ok := snap.NodeByMAC(p.mac)
	if !ok {
		noBody()
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "unknown MAC")
		return
	}
	if !node.IP.IsValid() || addr != node.IP.Unmap() {
		noBody()
		h.fail(w, r, snap, addr, p, http.StatusForbidden, "not from the node's own address")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxInitFailedReason+1))
	if len(body) > MaxInitFailedReason {
		body = body[:MaxInitFailedReason]
		noBody() // the rest is not read
	}
	reason := cleanReason(body)
	h.rec.Record(status.Event{Node: node.Name, MAC: node.MAC, Stage: status.StageInitFailed, Sent: "init", Reason: reason, Addr: addr})
	h.log.Warn("http: node's init failed; it reboots in 60 s", "node", node.Name, "reason", reason, "remote", r.RemoteAddr)
	w.Header()["Content-Type"] = hdrText
	w.Write([]byte("recorded\n"))
}

// cleanReason makes a node's report one printable line: invalid UTF-8 and
// control characters (newlines and tabs too) become spaces, runs of spaces
// one, and an empty report reads "(no reason given)".
func cleanReason(b []byte) string {
	var sb strings.Builder
	space := true // drop leading spaces
	for len(b) > 0 {
		c, n := utf8.DecodeRune(b)
		b = b[n:]
		if c == utf8.RuneError || unicode.IsControl(c) || unicode.IsSpace(c) {
			if !space {
				sb.WriteByte(' ')
				space = true
			}
			continue
		}
		sb.WriteRune(c)
		space = false
	}
	s := strings.TrimRight(sb.String(), " ")
	if s == "" {
		return "(no reason given)"
	}
	return s
}
