package httpboot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// EncodedInventory is the running inventory's JSON as GET /inventory
// serves it: read from Content (concurrently, by ReadAt: the state
// directory's file, not a copy in memory), Size bytes, whose Digest is the
// ETag.
type EncodedInventory struct {
	Digest  string // "sha256:<hex>" of the bytes
	Size    int64
	Content io.ReaderAt
}

// InventoryBytes returns b as an EncodedInventory (nil for none).
func InventoryBytes(b []byte) *EncodedInventory {
	if len(b) == 0 {
		return nil
	}
	sum := sha256.Sum256(b)
	return &EncodedInventory{Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(b)), Content: bytes.NewReader(b)}
}

// serveInventory answers GET /inventory with Config.Inventory's JSON, its
// digest as the ETag (If-None-Match: 304), or 503 while there is none.
func (h *Handler) serveInventory(w http.ResponseWriter, r *http.Request) {
	var inv *EncodedInventory
	if h.cfg.Inventory != nil {
		inv = h.cfg.Inventory()
	}
	if inv == nil || inv.Size == 0 {
		w.Header()["Content-Type"] = hdrText
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("no inventory yet\n"))
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = hdrJSON
	hdr["Cache-Control"] = hdrNoCache
	hdr["Etag"] = []string{`"` + inv.Digest + `"`}
	serveContent(w, r, io.NewSectionReader(inv.Content, 0, inv.Size), inv.Size)
}

// CheckPathAnswer is the JSON answer of GET /check-path.
type CheckPathAnswer struct {
	Kind    string   `json:"kind"` // "image" or "ipxe_dir"
	Path    string   `json:"path"`
	Allowed bool     `json:"allowed"`
	Roots   []string `json:"roots"` // the directories allowed for Kind
}

// maxCheckPath bounds the path GET /check-path checks.
const maxCheckPath = 4096

// serveCheckPath answers GET /check-path?image=P or ?ipxe_dir=P with a
// CheckPathAnswer. It says only whether P is allowed, never where it
// leads, so it maps nothing of the server's files beyond its roots.
func (h *Handler) serveCheckPath(w *respWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	if h.cfg.CheckPath == nil {
		h.fail(w, r, snap, addr, p, http.StatusNotFound, "no such path (this server checks no paths)")
		return
	}
	q := r.URL.Query()
	if len(q) != 1 {
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "want exactly one of image=PATH or ipxe_dir=PATH")
		return
	}
	var a CheckPathAnswer
	for _, kind := range []string{"image", "ipxe_dir"} {
		if v, ok := q[kind]; ok && len(v) == 1 {
			a.Kind, a.Path = kind, v[0]
		}
	}
	switch {
	case a.Kind == "":
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "want exactly one of image=PATH or ipxe_dir=PATH")
		return
	case a.Path == "" || len(a.Path) > maxCheckPath:
		h.fail(w, r, snap, addr, p, http.StatusBadRequest, "empty or too long path")
		return
	}
	a.Allowed, a.Roots = h.cfg.CheckPath(a.Kind, a.Path)
	b, _ := json.Marshal(&a)
	w.Header()["Content-Type"] = hdrJSON
	w.Header()["Cache-Control"] = hdrNoCache
	w.Write(append(b, '\n'))
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
	case !p.local(addr):
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
	h.serveLocalPost(w, r, snap, addr, p, localPost{name: "apply", body: "the plan", max: MaxApplyBody, handle: h.cfg.Apply})
}
