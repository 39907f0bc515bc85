package httpboot

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/overlaysig"
)

// artifactFor picks the artifact a route serves and the stage it records.
func artifactFor(n *bootsvc.Node, p parsed) (bootsvc.Artifact, status.Stage, bool) {
	a := &n.Artifacts
	switch p.route {
	case routeKernel:
		return a.Kernel, status.StageKernel, true
	case routeImage:
		return a.Image, status.StageImage, true
	case routeExtra:
		if p.index < len(a.Extra) {
			return a.Extra[p.index], status.StageImage, true
		}
		return bootsvc.Artifact{}, status.StageImage, false
	case routeSystem:
		return a.System, status.StageSystemOverlay, true
	case routeRuntime, routeRtInitrd:
		return a.Runtime, status.StageRuntimeOverlay, true
	case routeStage1:
		// Loaded with the kernel: its stage is the kernel's.
		return a.Stage1, status.StageKernel, true
	}
	return bootsvc.Artifact{}, "", false
}

// serveArtifact serves one of a node's boot files with http.ServeContent
// on the open file: Range, If-None-Match (the digest is the ETag), HEAD and
// sendfile all come from there. A digest URL (p.digest set) serves the
// artifact with that digest: the node's current one, or else the one in a
// snapshot replaced less than Config.Grace ago.
func (h *Handler) serveArtifact(w http.ResponseWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	node, known := snap.NodeByMAC(p.mac)
	var a bootsvc.Artifact
	var stage status.Stage
	ok := false
	if known {
		a, stage, ok = artifactFor(node, p)
	}
	src := snap // the snapshot a comes from
	if p.digest != "" && !(ok && hasDigest(&a, p.digest)) {
		rs, rn, ra, rstage, found := h.retiredArtifact(p)
		if !found {
			h.digestGone(w, r, node, addr, a, p)
			return
		}
		src, node, a, stage, ok, known = rs, rn, ra, rstage, true, true
	}
	if !known {
		h.notFound(w, r, status.Event{MAC: p.mac, Stage: status.StageNotFound, Sent: p.route.String(), Addr: addr}, "unknown MAC", "")
		return
	}
	name := a.Name
	if name == "" {
		name = p.route.String()
	}
	ev := status.Event{Node: node.Name, MAC: node.MAC, Stage: stage, Sent: name, Addr: addr}
	if !ok || a.Path == "" {
		ev.Stage = status.StageNotFound
		h.notFound(w, r, ev, "artifact not built", "")
		return
	}
	if p.route == routeRuntime || p.route == routeRtInitrd {
		if why := runtimeAllowed(r, snap, src, node, h.cfg.AssetKeySecret); why != "" {
			h.deny(w, r, ev, node, why)
			return
		}
	}
	f, err := os.Open(a.Path)
	if err != nil {
		ev.Stage = status.StageNotFound
		h.notFound(w, r, ev, "opening artifact: "+err.Error(), "")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		ev.Stage = status.StageNotFound
		h.notFound(w, r, ev, "artifact is not a regular file", "")
		return
	}
	if p.route == routeRtInitrd && fi.Size() > maxCPIOFile {
		ev.Stage = status.StageNotFound
		h.notFound(w, r, ev, "runtime overlay too large to wrap in a cpio archive (4 GiB at most); fetch /runtime/{mac}", "")
		return
	}
	if bootsArtifact(p.route) && r.Method != http.MethodHead {
		ev.Digest, ev.Commit, ev.Retired = a.Digest, src.Commit, src != snap
	}
	h.record(r, snap, node, ev)
	if h.log.Enabled(r.Context(), -4) {
		h.log.Debug("http: sending", "node", node.Name, "file", name, "remote", r.RemoteAddr,
			"range", r.Header.Get("Range"))
	}
	if p.route == routeRtInitrd {
		serveRuntimeInitrd(w, r, f, fi.Size(), a.Digest, h.signature(node, a))
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = hdrOctet
	if a.Digest != "" {
		hdr["Etag"] = []string{strconv.Quote(a.Digest)}
	}
	if p.route == routeRuntime {
		if sig := h.signature(node, a); sig != "" {
			hdr[overlaysig.Header] = []string{sig}
		}
	}
	serveContent(w, r, f, fi.Size())
}

// deny answers 403 to a runtime overlay request that secure_runtime
// refuses, records DENIED on the node and logs why (never the key). No
// byte of the overlay is sent, not even its size or ETag.
func (h *Handler) deny(w http.ResponseWriter, r *http.Request, ev status.Event, node *bootsvc.Node, why string) {
	ev.Stage = status.StageDenied
	h.record(r, h.snap.Load(), node, ev)
	h.bad.Warn("http: runtime overlay refused (secure_runtime: only the node itself, as root, with its asset key if it has one)",
		"why", why, "node", node.Name, "remote", r.RemoteAddr, "node_ip", node.IP)
	w.Header()["Content-Type"] = hdrText
	w.WriteHeader(http.StatusForbidden)
	w.Write([]byte("Forbidden\n")) // why is for the log: a client learns nothing about the node
}

// bootsArtifact reports whether a route sends one of the artifacts the
// status store records as booted (see status.NodeRecord): the kernel, the
// image and the system overlay. The runtime overlay changes live, without
// a reboot, and extra initrds are not tracked.
func bootsArtifact(r route) bool {
	return r == routeKernel || r == routeImage || r == routeSystem
}

// CurrentDigests returns a function giving a node's boot artifacts in snap,
// for status.Report.MarkReboots.
func CurrentDigests(snap *bootsvc.Snapshot) func(string) (status.BootDigests, bool) {
	return func(name string) (status.BootDigests, bool) {
		n, ok := snap.NodeByName(name)
		if !ok {
			return status.BootDigests{}, false
		}
		a := &n.Artifacts
		return status.BootDigests{Kernel: a.Kernel.Digest, Image: a.Image.Digest, System: a.System.Digest}, true
	}
}

// CurrentBMC returns a function giving a node's BMC in snap ("" none), for
// status.Report.MarkBMC.
func CurrentBMC(snap *bootsvc.Snapshot) func(string) string {
	return func(name string) string {
		if n, ok := snap.NodeByName(name); ok {
			return n.BMC
		}
		return ""
	}
}

// digestGone answers a digest URL whose artifact is served no more (or
// never was): 404, recorded as NOT_FOUND on the node (node is nil when the
// current snapshot does not know the MAC; cur is its current artifact).
func (h *Handler) digestGone(w http.ResponseWriter, r *http.Request, node *bootsvc.Node, addr netip.Addr, cur bootsvc.Artifact, p parsed) {
	ev := status.Event{MAC: p.mac, Stage: status.StageNotFound, Sent: cur.Name, Addr: addr}
	who := p.mac
	if node != nil {
		ev.Node, who = node.Name, node.Name
	}
	if ev.Sent == "" {
		ev.Sent = p.route.String()
	}
	h.notFound(w, r, ev, "digest not served (older than the grace period, or never built)",
		"artifact sha256:"+p.digest+" of node "+clip(who)+" is no longer served; reboot the node\n")
}

// AssetKeyHeader is the request header that carries a node's asset key
// (the agent sends the DMI chassis asset tag). With secure_runtime, a node
// that declares asset_key gets its runtime overlay only with the key in
// this header.
const AssetKeyHeader = "X-Gitboot-Asset-Key"

// runtimeAllowed applies secure_runtime to a runtime overlay from snapshot
// src, the current one being cur: when either has secure_runtime, the
// request must come from the node's own address and a privileged source
// port and carry the node's asset key if it has one, as the node is
// declared in src and, if it still is, in cur. It returns why a request is
// refused ("" when allowed), for the log; never the key.
func runtimeAllowed(r *http.Request, cur, src *bootsvc.Snapshot, node *bootsvc.Node, secret []byte) string {
	if !src.Server.SecureRuntime && (cur == nil || !cur.Server.SecureRuntime) {
		return ""
	}
	if why := runtimeRefusal(r, node, secret); why != "" {
		return why
	}
	if src != cur {
		if n, ok := cur.NodeByMAC(node.MAC); ok {
			return runtimeRefusal(r, n, secret)
		}
	}
	return ""
}

// runtimeRefusal says why r may not have node's runtime overlay under
// secure_runtime: not from node's own address, not from a privileged
// source port (so only root on the node can ask), or without node's asset
// key. "" when it may.
func runtimeRefusal(r *http.Request, node *bootsvc.Node, secret []byte) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	switch {
	case err != nil || !node.IP.IsValid() || ap.Addr().Unmap() != node.IP.Unmap():
		return "not from the node's own address"
	case ap.Port() >= 1024:
		return "source port not privileged (< 1024)"
	case node.AssetKeyDigest == "":
		return ""
	}
	keys := r.Header[AssetKeyHeader]
	if len(keys) == 0 {
		return "no asset key (header " + AssetKeyHeader + ")"
	}
	if len(keys) != 1 || !assetKeyMatches(keys[0], node.AssetKeyDigest, secret) {
		return "wrong asset key"
	}
	return ""
}

// assetKeyMatches reports whether key has the digest want, comparing in
// constant time: "hmac-sha256:<hex>", the HMAC-SHA256 with secret of
// "sha256:<hex of the key's sha256>" (bootsvc.Node.AssetKeyDigest), or a
// plain "sha256:<hex>" of an inventory written before those. A keyed
// digest without a secret matches nothing.
func assetKeyMatches(key, want string, secret []byte) bool {
	sum := sha256.Sum256([]byte(key))
	var got [len("sha256:") + 2*sha256.Size]byte
	copy(got[:], "sha256:")
	hex.Encode(got[len("sha256:"):], sum[:])
	if !strings.HasPrefix(want, "hmac-sha256:") {
		return subtle.ConstantTimeCompare(got[:], []byte(want)) == 1
	}
	if len(secret) == 0 {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(got[:])
	mac := "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
	return subtle.ConstantTimeCompare([]byte(mac), []byte(want)) == 1
}

// notFound answers 404 with body (or "Not Found" when body is empty),
// records ev and logs why.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, ev status.Event, why, body string) {
	h.record(r, h.snap.Load(), nil, ev)
	h.bad.Warn("http: not found", "why", why, "node", ev.Node, "mac", ev.MAC, "path", clip(r.URL.Path),
		"remote", r.RemoteAddr)
	w.Header()["Content-Type"] = hdrText
	w.WriteHeader(http.StatusNotFound)
	if body == "" {
		body = "Not Found\n"
	}
	w.Write([]byte(body))
}

// serveBootFile sends one of the fixed iPXE binaries from the server's
// ipxe_dir to a UEFI HTTP boot client. The name comes from a fixed table
// (parsePath), never from the request, so nothing outside those files can
// be reached; the configured binaries may be symlinks (Debian's ipxe.efi
// is one) and are followed, to a regular file only.
func (h *Handler) serveBootFile(w http.ResponseWriter, r *http.Request, snap *bootsvc.Snapshot, addr netip.Addr, p parsed) {
	ev := status.Event{Stage: status.StageNotFound, Sent: p.file, Addr: addr}
	if n, ok := snap.NodeByIP(addr); ok {
		ev.Node, ev.MAC = n.Name, n.MAC
	}
	if snap == nil {
		h.notFound(w, r, ev, "no snapshot", "")
		return
	}
	// Non-blocking: a FIFO in ipxe_dir must not hold the request.
	f, err := os.OpenFile(filepath.Join(snap.Server.IPXEDir, filepath.FromSlash(p.file)), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		h.notFound(w, r, ev, "opening boot file: "+err.Error(), "")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		h.notFound(w, r, ev, "boot file is not a regular file", "")
		return
	}
	w.Header()["Content-Type"] = hdrOctet
	serveContent(w, r, f, fi.Size())
}
