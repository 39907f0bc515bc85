package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ptftp "github.com/pin/tftp/v3"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

func TestOptionsBlksizeTsize(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	cases := []struct {
		name      string
		opts      []string
		wantBlk   string // "" when no blksize is acknowledged
		wantTsize string
		maxBlock  int
	}{
		{"none", nil, "", "", 512},
		{"blksize 1468", []string{"blksize", "1468"}, "1468", "", 1468},
		{"blksize and tsize", []string{"blksize", "1468", "tsize", "0"}, "1468", "300001", 1468},
		{"tsize only", []string{"tsize", "0"}, "", "300001", 512},
		{"lying tsize", []string{"tsize", "7"}, "", "300001", 512},
		{"blksize 8192", []string{"blksize", "8192"}, "8192", "", 8192},
		{"blksize too small", []string{"blksize", "8"}, "", "", 512},
		{"blksize not a number", []string{"blksize", "lots"}, "", "", 512},
		{"unknown option", []string{"windowsize", "16"}, "", "", 512},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := newRaw(t, ts.port)
			data, oack, maxBlock, err := cl.fetch(bigFile, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, r.files[bigFile]) {
				t.Fatalf("got %d bytes, want the %d of big.bin", len(data), len(r.files[bigFile]))
			}
			if oack["blksize"] != c.wantBlk || oack["tsize"] != c.wantTsize {
				t.Fatalf("OACK %v, want blksize %q tsize %q", oack, c.wantBlk, c.wantTsize)
			}
			if maxBlock != c.maxBlock {
				t.Fatalf("largest block %d, want %d", maxBlock, c.maxBlock)
			}
		})
	}
}

// netascii: line ends become CR LF on the wire, and tsize is left out
// (the file's size is not what is sent). The library matches the mode
// case-sensitively, so "NETASCII" is sent as octet: then a tsize must
// match what is sent.
func TestNetascii(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	for _, mode := range []string{"netascii", "NETASCII"} {
		cl := newRaw(t, ts.port)
		cl.send(request(opRRQ, smallFile, mode, "tsize", "0"))
		p, err := cl.recv(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tsize, hasTsize := "", false
		if binary.BigEndian.Uint16(p) == opOACK {
			tsize, hasTsize = parseOACK(p)["tsize"]
			cl.sendPeer(ack(0))
			if p, err = cl.recv(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		cl.sendPeer(ack(1))
		got := string(p[4:])
		converted := strings.ReplaceAll(string(r.files[smallFile]), "\n", "\r\n")
		switch {
		case mode == "netascii" && (got != converted || hasTsize):
			t.Errorf("netascii: got %q (tsize %q), want %q and no tsize", got, tsize, converted)
		case hasTsize && tsize != strconv.Itoa(len(got)):
			t.Errorf("%s: tsize %s for %d bytes sent", mode, tsize, len(got))
		}
	}
}

// PXE ROMs ask for tsize, read the OACK, end the transfer with an ERROR,
// then ask again: the probe is not a warning, and the real transfer is the
// one recorded.
func TestTsizeProbe(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, "undionly.kpxe", "octet", "tsize", "0", "blksize", "1432"))
	p, err := cl.recv(10 * time.Second)
	if err != nil || binary.BigEndian.Uint16(p) != opOACK {
		t.Fatalf("want an OACK, got %q %v", p, err)
	}
	if got := parseOACK(p)["tsize"]; got != strconv.Itoa(len(r.files["undionly.kpxe"])) {
		t.Fatalf("tsize %q", got)
	}
	cl.sendPeer(append([]byte{0, opERROR, 0, 8}, "tsize probe\x00"...))
	waitLog(t, ts, "option probe ended by the client")
	got, _, _, err := newRaw(t, ts.port).fetch("undionly.kpxe", "blksize", "1432")
	if err != nil || !bytes.Equal(got, r.files["undionly.kpxe"]) {
		t.Fatalf("the real transfer: %d bytes, %v", len(got), err)
	}
	if evs := ts.rec.wait(t, 1); len(evs) != 1 || evs[0].Sent != "undionly.kpxe" {
		t.Fatalf("events %+v, want the one real transfer", evs)
	}
	if strings.Contains(ts.log.String(), "level=WARN") {
		t.Fatalf("a warning for a tsize probe:\n%s", ts.log.String())
	}
}

func TestMaxBlockSizeCaps(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{MaxBlockSize: 1024})
	data, oack, maxBlock, err := newRaw(t, ts.port).fetch(bigFile, "blksize", "8192")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, r.files[bigFile]) || oack["blksize"] != "1024" || maxBlock != 1024 {
		t.Fatalf("%d bytes, OACK %v, largest block %d; want blksize capped at 1024", len(data), oack, maxBlock)
	}
}

// Refusals over the wire that the real clients cannot send: names with
// spaces or control characters, huge names, encodings.
func TestRawRefusals(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	cases := map[string]string{
		"name with space.bin":      "not a boot file",
		"small.txt\x01":            "bad file name",
		"\x7f":                     "bad file name",
		strings.Repeat("a", 300):   "too long",
		strings.Repeat("a/", 127):  "not a boot file",
		"/":                        "absolute path outside",
		".":                        "is a directory",
		r.dir:                      "is a directory",
		"sub/dir/deep.bin/x":       "not a boot file",
		"sub/loop":                 "", // ELOOP: refused, whichever reason
		"root-link-abs/small.txt":  "not a boot file",
		"./sub/./dir/../../../etc": "leaves the TFTP root",
		// Encodings are not decoded: each is a literal, missing name.
		"\xc0\xae\xc0\xae/\xc0\xae\xc0\xae/etc/passwd": "not a boot file",
		"..%2f..%2fetc%2fpasswd":                       "not a boot file",
		"%252e%252e/etc/passwd":                        "not a boot file",
		".../...//etc/passwd":                          "not a boot file",
		"\u2025/etc/passwd":                            "not a boot file",
		// A NUL ends the name: what follows is the mode.
		"..\x00etc/passwd": "leaves the TFTP root",
	}
	for name, want := range cases {
		cl := newRaw(t, ts.port)
		cl.send(request(opRRQ, name, "octet"))
		if msg := cl.expectError(); !strings.Contains(msg, want) {
			t.Errorf("%q: error %q, want %q", truncate(name, 20), msg, want)
		}
	}
	if _, ok := ts.rec.find(status.StageBadRequest, "small.txt\x01"); !ok {
		t.Errorf("no BAD_REQUEST event for a control character; events %+v", ts.rec.all())
	}
}

// A server that has no snapshot yet refuses every request.
func TestNoSnapshotRefuses(t *testing.T) {
	ts := startServer(t, t.TempDir(), Config{})
	ts.cur.Store(nil)
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, "undionly.kpxe", "octet"))
	if msg := cl.expectError(); !strings.Contains(msg, errNoConfig.Error()) {
		t.Fatalf("error %q", msg)
	}
}

func TestListenPortInUse(t *testing.T) {
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.LocalAddr().(*net.UDPAddr).Port
	_, err = Listen(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	if err == nil {
		t.Fatal("Listen on a busy port succeeded")
	}
	for _, want := range []string{strconv.Itoa(port), "tftp_port", "in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestServeNilConn(t *testing.T) {
	if err := New(Config{Log: quietLogger()}).Serve(context.Background(), nil); err == nil {
		t.Fatal("Serve(nil) returned nil")
	}
}

func TestBootFilesResolvedAtLoad(t *testing.T) {
	r := makeRoot(t)
	tr := newTree(snapshot(r.dir), quietLogger())
	want := filepath.Join(r.outside, "ipxe-real.efi")
	if got := tr.boot["ipxe.efi"]; got != want {
		t.Fatalf("ipxe.efi resolved to %q, want %q", got, want)
	}
	if got := tr.boot["undionly.kpxe"]; got != filepath.Join(r.dir, "undionly.kpxe") {
		t.Fatalf("undionly.kpxe resolved to %q", got)
	}
	// A configured UEFI name, a symlink out of the root.
	mustWrite(t, filepath.Join(r.outside, "custom.efi"), []byte("custom"))
	if err := os.Symlink(filepath.Join(r.outside, "custom.efi"), filepath.Join(r.dir, "custom.efi")); err != nil {
		t.Fatal(err)
	}
	snap := bootsvc.NewSnapshot(bootsvc.Server{IPXEDir: r.dir, UEFIBootFile: "custom.efi"}, nil, nil, "")
	tr = newTree(snap, quietLogger())
	for name, want := range map[string]string{exactFile: string(r.files[exactFile]), "custom.efi": "custom"} {
		f, rel, err := tr.open(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if rel != name || string(b) != want {
			t.Fatalf("%s: %d bytes as %q", name, len(b), rel)
		}
	}
	// A boot binary installed (as a symlink out of the root) after the
	// snapshot was loaded is found.
	if err := os.Remove(filepath.Join(r.dir, "arm64", "snponly.efi")); err != nil {
		t.Fatal(err)
	}
	tr = newTree(snapshot(r.dir), quietLogger())
	if _, ok := tr.boot["arm64/snponly.efi"]; ok {
		t.Fatal("a missing arm64/snponly.efi was resolved")
	}
	if _, _, err := tr.open("arm64/snponly.efi"); !errors.Is(err, errNotFound) {
		t.Fatalf("missing arm64/snponly.efi: %v", err)
	}
	if err := os.Symlink(filepath.Join(r.outside, "custom.efi"), filepath.Join(r.dir, "arm64", "snponly.efi")); err != nil {
		t.Fatal(err)
	}
	f, _, err := tr.open("arm64/snponly.efi")
	if err != nil {
		t.Fatalf("arm64/snponly.efi installed after load: %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "custom" {
		t.Fatalf("arm64/snponly.efi installed after load: %q", b)
	}
	// The same symlink is refused when the configuration does not name it.
	if _, _, err := newTree(snapshot(r.dir), quietLogger()).open("custom.efi"); !errors.Is(err, errNotBootFile) {
		t.Fatalf("custom.efi not named by the configuration: %v", err)
	}
	// Default root.
	if tr := newTree(bootsvc.NewSnapshot(bootsvc.Server{}, nil, nil, ""), quietLogger()); tr.dir != DefaultIPXEDir {
		t.Fatalf("default root %q", tr.dir)
	}
}

// On the wildcard address, a transfer answers from the address the request
// came to (the packet info Listen asks for).
func TestWildcardAnswersFromRequestAddress(t *testing.T) {
	conn, err := Listen(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	if la := conn.LocalAddr().(*net.UDPAddr); !la.IP.Equal(net.IPv4zero) {
		t.Fatalf("Listen(zero) bound %v, want 0.0.0.0", la)
	}
	r := makeRoot(t)
	srv := New(Config{Log: quietLogger()})
	srv.Update(snapshot(r.dir))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	defer func() { cancel(); <-done }()
	cl := newRaw(t, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	got, oack, maxBlock, err := cl.fetch(bigFile, "blksize", "1468")
	if err != nil || !bytes.Equal(got, r.files[bigFile]) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if !cl.peer.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("answered from %v, want 127.0.0.1", cl.peer)
	}
	if oack["blksize"] != "1468" || maxBlock != 1468 {
		t.Fatalf("OACK %v, largest block %d", oack, maxBlock)
	}
}

// IPv6 works the same (the library's second code path).
func TestIPv6Loopback(t *testing.T) {
	conn, err := Listen(netip.MustParseAddrPort("[::1]:0"))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	r := makeRoot(t)
	srv := New(Config{Log: quietLogger()})
	srv.Update(snapshot(r.dir))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	defer func() { cancel(); <-done }()
	c, err := ptftp.NewClient(conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetBlockSize(1428)
	wt, err := c.Receive(bigFile, "octet")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), r.files[bigFile]) {
		t.Fatalf("got %d bytes over IPv6, want the %d of big.bin", buf.Len(), len(r.files[bigFile]))
	}
}

// bootsvc/tftp serves a snapshot it is handed: it must never depend on the
// configuration language or the reconciler.
func TestNoForbiddenImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/gitboot/gitboot/hclspec", "github.com/gitboot/gitboot/reconcile"} {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("bootsvc/tftp depends on %s", dep)
			}
		}
	}
}
