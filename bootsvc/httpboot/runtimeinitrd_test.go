package httpboot

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// unwrapInitrd unpacks body, a /runtime-initrd/ answer (one gzip member,
// a cpio inside), with GNU gzip and cpio (readers independent of the
// writer) and returns the content of its one file (see unwrapCPIO).
func unwrapInitrd(t testing.TB, body []byte) []byte {
	t.Helper()
	needTools(t, "gzip")
	cmd := exec.Command("gzip", "-dc")
	cmd.Stdin = bytes.NewReader(body)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cpio, err := cmd.Output()
	if err != nil || errb.Len() > 0 {
		t.Fatalf("gzip -dc of the %d bytes served: %v: %s", len(body), err, errb.String())
	}
	return unwrapCPIO(t, cpio)
}

// unwrapCPIO unpacks a cpio with GNU cpio and returns the content of its
// one file, after checking that the archive holds exactly that file, named
// RuntimeInitrdFile, a regular file 0600 owned by 0:0, ends in the trailer
// and is padded as newc wants.
func unwrapCPIO(t testing.TB, body []byte) []byte {
	t.Helper()
	needTools(t, "cpio")
	dir := t.TempDir()
	arc := filepath.Join(dir, "arc.cpio")
	if err := os.WriteFile(arc, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(body)%4 != 0 {
		t.Errorf("archive of %d bytes: not padded to 4", len(body))
	}
	if !bytes.HasSuffix(bytes.TrimRight(body, "\x00"), []byte("TRAILER!!!")) {
		t.Error("archive does not end in the TRAILER!!! entry")
	}
	out, err := exec.Command("cpio", "-itv", "--quiet", "--numeric-uid-gid", "-F", arc).Output()
	if err != nil {
		t.Fatalf("cpio -itv: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("cpio -itv lists %d entries, want the one file:\n%s", len(lines), out)
	}
	f := strings.Fields(lines[0])
	if len(f) < 9 || f[0] != "-rw-------" || f[2] != "0" || f[3] != "0" || f[len(f)-1] != RuntimeInitrdFile {
		t.Fatalf("entry %q: want -rw------- 0 0 ... %s", lines[0], RuntimeInitrdFile)
	}
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	unpack := exec.Command("cpio", "-i", "--quiet", "--no-absolute-filenames", "-F", arc)
	unpack.Dir = root
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != RuntimeInitrdFile {
		t.Fatalf("cpio -i made %v, want only %s", ents, RuntimeInitrdFile)
	}
	fi, _ := os.Lstat(filepath.Join(root, RuntimeInitrdFile))
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s unpacks as %v, want a regular file 0600", RuntimeInitrdFile, fi.Mode())
	}
	got, err := os.ReadFile(filepath.Join(root, RuntimeInitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRuntimeInitrdRoute: /runtime-initrd/{mac}[/{hex}] is the runtime
// overlay artifact, byte for byte, as the one file of a cpio archive in a
// gzip member, with
// an exact Content-Length, recorded as RUNTIME_OVERLAY like /runtime/;
// Range, HEAD and If-None-Match work on the wrapped bytes.
func TestRuntimeInitrdRoute(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	const mac = "52:54:00:00:00:01"
	node, _ := e.h.Snapshot().NodeByMAC(mac)
	rt := node.Artifacts.Runtime
	orig, _ := os.ReadFile(rt.Path)
	url := scriptURLs(curl(t, e.base+"/ipxe/"+mac))["runtime"]
	if url != e.base+"/runtime-initrd/"+mac+"/"+strings.TrimPrefix(rt.Digest, "sha256:") {
		t.Fatalf("the script's runtime initrd is %q", url)
	}

	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %d %v", resp.StatusCode, err)
	}
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("Content-Length %d for %d bytes, Content-Type %q", resp.ContentLength, len(body), resp.Header.Get("Content-Type"))
	}
	if got := unwrapInitrd(t, body); !bytes.Equal(got, orig) {
		t.Fatalf("the wrapped file (%d bytes) is not the runtime artifact (%d bytes)", len(got), len(orig))
	}
	r, _ := e.store.Node("c001")
	if r.Stage != status.StageRuntimeOverlay || r.Sent != rt.Name || r.Addr.String() != "127.0.0.1" || r.Error != nil {
		t.Fatalf("after the wrapped runtime overlay: %+v", r)
	}
	// The plain form: the same bytes.
	if code, plain := get(t, e.base+"/runtime-initrd/"+mac); code != 200 || !bytes.Equal(plain, body) {
		t.Fatalf("plain URL: %d, %d bytes, want the same %d", code, len(plain), len(body))
	}

	// HEAD: the length and ETag, no body.
	hresp, err := http.Head(url)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	etag := strconv.Quote(rt.Digest + "+initrd")
	if hresp.StatusCode != 200 || hresp.ContentLength != int64(len(body)) || len(hb) != 0 || hresp.Header.Get("Etag") != etag {
		t.Fatalf("HEAD: %d len %d body %d etag %q", hresp.StatusCode, hresp.ContentLength, len(hb), hresp.Header.Get("Etag"))
	}
	// Ranges inside and across the header, the file and the trailer.
	n := len(body)
	for _, rg := range [][2]int{{0, 9}, {130, 140}, {136, 136 + len(orig) - 1}, {n - len(orig) - 50, n - 100}, {n - 130, n - 1}} {
		part := curl(t, "-f", "-r", strconv.Itoa(rg[0])+"-"+strconv.Itoa(rg[1]), url)
		if !bytes.Equal(part, body[rg[0]:rg[1]+1]) {
			t.Errorf("Range %d-%d: %d bytes, not the body's", rg[0], rg[1], len(part))
		}
	}
	if tail := curl(t, "-f", "-r", "-7", url); !bytes.Equal(tail, body[n-7:]) {
		t.Error("Range -7: not the body's last 7 bytes")
	}
	if c := curlCode(t, "-r", strconv.Itoa(n)+"-", url); c != "416" {
		t.Errorf("Range past the end: %s, want 416", c)
	}
	if c := curlCode(t, "-H", "If-None-Match: "+etag, url); c != "304" {
		t.Errorf("If-None-Match with the wrapped ETag: %s, want 304", c)
	}
	if c := curlCode(t, "-H", "If-None-Match: "+strconv.Quote(rt.Digest), url); c != "200" {
		t.Errorf("If-None-Match with the plain artifact's ETag: %s, want 200", c)
	}

	// A digest no snapshot has: 404; an unknown MAC: 404.
	if c := curlCode(t, e.base+"/runtime-initrd/"+mac+"/"+strings.Repeat("0", 64)); c != "404" {
		t.Errorf("unknown digest: %s, want 404", c)
	}
	if c := curlCode(t, e.base+"/runtime-initrd/52:54:00:00:00:99"); c != "404" {
		t.Errorf("unknown MAC: %s, want 404", c)
	}
}

// TestRuntimeInitrdSecure: secure_runtime guards the wrapped overlay as it
// guards /runtime/: 403 and DENIED from an unprivileged port or another
// node's address, no byte of it sent.
func TestRuntimeInitrdSecure(t *testing.T) {
	e := newEnv(t, Config{}, func(s *bootsvc.Server, _ []bootsvc.Node) { s.SecureRuntime = true })
	node, _ := e.h.Snapshot().NodeByName("c001")
	url := e.base + "/runtime-initrd/52:54:00:00:00:01/" + strings.TrimPrefix(node.Artifacts.Runtime.Digest, "sha256:")
	code, body := get(t, url)
	if code != 403 || bytes.Contains(body, []byte(RuntimeInitrdFile)) {
		t.Fatalf("unprivileged port: %d %q, want 403 and nothing of the overlay", code, body)
	}
	if r, _ := e.store.Node("c001"); r.Error == nil || r.Error.Stage != status.StageDenied {
		t.Fatalf("not recorded DENIED: %+v", r)
	}
	if os.Geteuid() != 0 {
		t.Skip("binding a port < 1024 needs root")
	}
	if c := curlCode(t, "--local-port", "700-799", url); c != "200" {
		t.Fatalf("own address, privileged port: %s, want 200", c)
	}
	if c := curlCode(t, "--interface", "127.0.0.2", "--local-port", "700-799", url); c != "403" {
		t.Fatalf("c001's wrapped overlay from c002: %s, want 403", c)
	}
}

// TestWrappedInitrdLayout: the cpio layer: every padding case (file sizes
// 0 to 8 and a larger one) unpacks with cpio to the exact bytes, and
// ReadAt at every offset agrees with the whole.
func TestWrappedInitrdLayout(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 70001} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + size)
		}
		w := newWrappedInitrd(bytes.NewReader(data), int64(size), "")
		whole, err := io.ReadAll(io.NewSectionReader(w, 0, w.size()))
		if err != nil || int64(len(whole)) != w.size() {
			t.Fatalf("size %d: read %d of %d bytes: %v", size, len(whole), w.size(), err)
		}
		if got := unwrapCPIO(t, whole); !bytes.Equal(got, data) {
			t.Fatalf("size %d: unpacked %d bytes, not the file", size, len(got))
		}
		if size > 100 {
			continue
		}
		for off := 0; off <= len(whole); off++ {
			for _, l := range []int{1, 3, 64} {
				p := make([]byte, l)
				n, err := w.ReadAt(p, int64(off))
				want := whole[off:min(off+l, len(whole))]
				if !bytes.Equal(p[:n], want) || (n < l) != (err == io.EOF) {
					t.Fatalf("size %d: ReadAt(%d bytes, %d) = %d, %v; want %d bytes", size, l, off, n, err, len(want))
				}
			}
		}
	}
}

// TestWrappedInitrdShrunk: an artifact cut short after it was opened (a
// file rewritten in place) ends the body with an error, never with bytes
// that do not belong to it.
func TestWrappedInitrdShrunk(t *testing.T) {
	w := newWrappedInitrd(bytes.NewReader(make([]byte, 10)), 100, "")
	_, err := io.ReadAll(io.NewSectionReader(w, 0, w.size()))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading past the shrunk file: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestRuntimeInitrdGrace: after a new commit changed the runtime overlay,
// the old script's /runtime-initrd/ URL still gets the old overlay,
// wrapped, within the grace period, and 404 after it.
func TestRuntimeInitrdGrace(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{Now: clk.Now, Grace: 10 * time.Minute}, nil)
	const mac = "52:54:00:00:00:01"
	oldSnap := e.h.Snapshot()
	oldNode, _ := oldSnap.NodeByMAC(mac)
	oldURL := scriptURLs(curl(t, e.base+"/ipxe/"+mac))["runtime"]
	oldBytes, _ := os.ReadFile(oldNode.Artifacts.Runtime.Path)

	nodes := append([]bootsvc.Node(nil), oldSnap.Nodes...)
	nodes[0].Artifacts.Runtime = makeCPIO(t, e.dir, "runtime-2.img.gz", map[string]string{"etc/munge/munge.key": "new secret"})
	e.h.Update(newSnap(oldSnap, nodes))
	newURL := scriptURLs(curl(t, e.base+"/ipxe/"+mac))["runtime"]
	if newURL == oldURL {
		t.Fatal("the runtime initrd URL did not change with the overlay")
	}
	newBytes, _ := os.ReadFile(nodes[0].Artifacts.Runtime.Path)

	clk.Advance(9 * time.Minute)
	if code, body := get(t, oldURL); code != 200 || !bytes.Equal(unwrapInitrd(t, body), oldBytes) {
		t.Fatalf("old URL within the grace: %d, want 200 and the old overlay", code)
	}
	if r, _ := e.store.Node("c001"); r.Stage != status.StageRuntimeOverlay || r.Error != nil {
		t.Fatalf("after the old overlay: %+v", r)
	}
	if code, body := get(t, newURL); code != 200 || !bytes.Equal(unwrapInitrd(t, body), newBytes) {
		t.Fatalf("new URL: %d, want 200 and the new overlay", code)
	}
	clk.Advance(time.Minute)
	if code, _ := get(t, oldURL); code != 404 {
		t.Fatalf("old URL after the grace: %d, want 404", code)
	}
}

// TestStoredGzip: the gzip layer: around every block boundary the member
// decompresses (GNU gzip and Go's reader, both checking the CRC and the
// length) to the exact bytes, nothing follows it, and ReadAt anywhere
// agrees with the whole.
func TestStoredGzip(t *testing.T) {
	needTools(t, "gzip")
	for _, size := range []int{0, 1, 4, 65534, 65535, 65536, 131070, 131071, 200003} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*13 + i>>9)
		}
		g := newStoredGzip(bytes.NewReader(data), int64(size))
		whole, err := io.ReadAll(io.NewSectionReader(g, 0, g.size()))
		if err != nil || int64(len(whole)) != g.size() {
			t.Fatalf("size %d: read %d of %d bytes: %v", size, len(whole), g.size(), err)
		}
		cmd := exec.Command("gzip", "-dc")
		cmd.Stdin = bytes.NewReader(whole)
		out, err := cmd.Output()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("size %d: gzip -dc: %v, %d bytes", size, err, len(out))
		}
		zr, err := gzip.NewReader(bytes.NewReader(whole))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: Go's gzip: %v, %d bytes", size, err, len(got))
		}
		for _, off := range []int{0, 9, 10, 14, 15, 65549, 65550, 65555, len(whole) - 9, len(whole) - 8, len(whole) - 1, len(whole)} {
			if off < 0 || off > len(whole) {
				continue
			}
			g := newStoredGzip(bytes.NewReader(data), int64(size)) // a fresh one: the CRC on demand
			p := make([]byte, 20)
			n, err := g.ReadAt(p, int64(off))
			want := whole[off:min(off+20, len(whole))]
			if !bytes.Equal(p[:n], want) || (n < 20) != (err == io.EOF) {
				t.Fatalf("size %d: ReadAt(20, %d) = %d, %v; want %d bytes", size, off, n, err, len(want))
			}
		}
	}
	// A source that shrank: the trailer cannot be computed.
	g := newStoredGzip(bytes.NewReader(make([]byte, 10)), 100)
	if _, err := g.ReadAt(make([]byte, 8), g.size()-8); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the trailer of a shrunk source: %v, want io.ErrUnexpectedEOF", err)
	}
}
