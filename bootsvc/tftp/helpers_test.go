package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
)

// testNode is declared with the loopback address, so loopback clients are
// a known node.
const testNode = "c001"

// events is a status.Recorder that keeps what it is given.
type events struct {
	mu sync.Mutex
	ev []status.Event
}

func (e *events) Record(ev status.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) all() []status.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]status.Event(nil), e.ev...)
}

// wait waits until at least n events came: the server records a transfer
// when the last ACK arrives, just after the client has its file.
func (e *events) wait(t *testing.T, n int) []status.Event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(e.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want %d: %+v", len(e.all()), n, e.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return e.all()
}

// find returns the first event for file with the given stage.
func (e *events) find(stage status.Stage, file string) (status.Event, bool) {
	for _, ev := range e.all() {
		if ev.Stage == stage && ev.Sent == file {
			return ev, true
		}
	}
	return status.Event{}, false
}

// testServer is one running Server on a loopback port.
type testServer struct {
	*Server
	port   uint16
	log    *netnstest.SyncBuffer
	rec    *events
	cancel func() // cancels Serve's context
	stop   func() // cancels Serve and waits for it to return
}

// quietLogger drops everything below errors.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// snapshot declares testNode at 127.0.0.1 with the given root.
func snapshot(root string) *bootsvc.Snapshot {
	return bootsvc.NewSnapshot(
		bootsvc.Server{Name: "head", IPXEDir: root},
		nil,
		[]bootsvc.Node{{Name: testNode, MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("127.0.0.1")}},
		"test")
}

// startServer serves root on a free loopback port until the test ends.
func startServer(t testing.TB, root string, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{log: &netnstest.SyncBuffer{}, rec: &events{}}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(ts.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Recorder == nil {
		cfg.Recorder = ts.rec
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	ts.Server = New(cfg)
	ts.Update(snapshot(root))
	conn, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ts.port = uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, conn) }()
	var once sync.Once
	ts.cancel = cancel
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Serve did not return 30 s after cancel")
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// testRoot is a temp TFTP root: the boot binaries (the only files served)
// holding the test's contents, files and symlinks that are not boot
// binaries (never served, whatever they are), and a secret outside it.
type testRoot struct {
	dir     string            // the root
	outside string            // a sibling directory holding secret and the real ipxe.efi
	files   map[string][]byte // what is served: boot name -> content
}

// The boot names the test root puts its contents at.
const (
	bigFile   = "snponly.efi"       // 300,001 random bytes
	smallFile = "undionly.kpxe"     // a short text file
	exactFile = "arm64/snponly.efi" // a multiple of 1468 bytes
)

const secret = "SECRET-outside-the-root\n"

func makeRoot(t testing.TB) *testRoot {
	t.Helper()
	base := t.TempDir()
	r := &testRoot{dir: filepath.Join(base, "root"), outside: filepath.Join(base, "outside"), files: map[string][]byte{}}
	for _, d := range []string{r.dir, r.outside, filepath.Join(r.dir, "sub", "dir"), filepath.Join(r.dir, "arm64")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, data []byte) {
		t.Helper()
		mustWrite(t, filepath.Join(r.dir, filepath.FromSlash(name)), data)
	}
	serve := func(name string, data []byte) {
		t.Helper()
		write(name, data)
		r.files[name] = data
	}
	serve(bigFile, randomBytes(t, 300_001))
	serve(exactFile, randomBytes(t, 1468*5))
	serve(smallFile, []byte("hello from the test root\n"))
	// Not boot binaries: never served.
	write("big.bin", randomBytes(t, 300_001))
	write("exact.bin", randomBytes(t, 512*8))
	write("empty.bin", nil)
	write("small.txt", []byte("hello from the test root\n"))
	write("sub/dir/deep.bin", randomBytes(t, 4000))
	write("name with space.bin", randomBytes(t, 700))
	write("shadow", []byte(secret))

	mustWrite(t, filepath.Join(r.outside, "secret"), []byte(secret))
	efi := randomBytes(t, 90_000)
	mustWrite(t, filepath.Join(r.outside, "ipxe-real.efi"), efi)
	r.files["ipxe.efi"] = efi
	links := map[string]string{
		"ipxe.efi":       filepath.Join(r.outside, "ipxe-real.efi"), // a boot file: resolved at load
		"escape-abs":     filepath.Join(r.outside, "secret"),
		"escape-rel":     "../outside/secret",
		"sub/escape-up":  "../../outside/secret",
		"inside-link":    "big.bin",
		"sub/inside-up":  "../small.txt",
		"dir-link":       "sub",
		"escape-dir":     "../outside",
		"dangling":       "nothing-here",
		"sub/loop":       "loop",
		"root-link-abs":  r.dir, // absolute, even though it points at the root itself
		"etc-link":       "/etc",
		"passwd-link":    "/etc/passwd",
		"proc-self-root": "/proc/self/root",
		"null-link":      "/dev/null",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(r.dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(r.dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func mustWrite(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// needIPXE returns the system iPXE directory, skipping the test when the
// ipxe package is missing (never under CI).
func needIPXE(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(DefaultIPXEDir, "undionly.kpxe")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the ipxe package is needed under CI: %v", err)
		}
		t.Skipf("ipxe package not installed: %v", err)
	}
	return DefaultIPXEDir
}

// waitGoroutines fails the test unless the goroutine count falls back to
// at most base (polling, with a generous deadline; not a speed check).
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits until the server log contains want.
func waitLog(t *testing.T, ts *testServer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(ts.log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %q; log:\n%s", want, ts.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TFTP packets, built by hand for the raw client (opcodes from wire.go).

func request(op uint16, name, mode string, opts ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, s := range append([]string{name, mode}, opts...) {
		b = append(append(b, s...), 0)
	}
	return b
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opACK), block)
}

// rawClient speaks TFTP packet by packet, so tests can stall, swap or
// misbehave between packets.
type rawClient struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr // the listening port
	peer   *net.UDPAddr // the transfer's port, once known
}

func newRaw(t *testing.T, port uint16) *rawClient {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)}}
}

// send sends b to the listening port.
func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDP(b, c.server); err != nil {
		c.t.Fatal(err)
	}
}

// sendPeer sends b to the transfer's port.
func (c *rawClient) sendPeer(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDP(b, c.peer); err != nil {
		c.t.Fatal(err)
	}
}

var errSilence = errors.New("no reply")

// recv returns the next packet; errSilence when none comes within wait.
func (c *rawClient) recv(wait time.Duration) ([]byte, error) {
	buf := make([]byte, 70000)
	if err := c.conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	n, from, err := c.conn.ReadFromUDP(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, errSilence
	}
	if err != nil {
		return nil, err
	}
	c.peer = from
	return buf[:n], nil
}

// expectError waits for an ERROR packet and returns its message.
func (c *rawClient) expectError() string {
	c.t.Helper()
	p, err := c.recv(10 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for a TFTP error: %v", err)
	}
	if op := binary.BigEndian.Uint16(p); op != opERROR {
		c.t.Fatalf("got opcode %d (%d bytes), want ERROR", op, len(p))
	}
	return string(bytes.TrimRight(p[4:], "\x00"))
}

// parseOACK decodes an OACK's options.
func parseOACK(p []byte) map[string]string {
	parts := bytes.Split(bytes.TrimRight(p[2:], "\x00"), []byte{0})
	m := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		m[string(parts[i])] = string(parts[i+1])
	}
	return m
}

// fetch downloads name in lock step, answering an OACK, and returns the
// data, the options acknowledged and the largest DATA payload seen.
func (c *rawClient) fetch(name string, opts ...string) (data []byte, oack map[string]string, maxBlock int, err error) {
	c.send(request(opRRQ, name, "octet", opts...))
	var want uint16 = 1
	blksize := 512
	for {
		p, err := c.recv(10 * time.Second)
		if err != nil {
			return nil, nil, 0, err
		}
		switch binary.BigEndian.Uint16(p) {
		case opOACK:
			oack = parseOACK(p)
			if v, ok := oack["blksize"]; ok {
				fmt.Sscan(v, &blksize)
			}
			c.sendPeer(ack(0))
		case opDATA:
			block := binary.BigEndian.Uint16(p[2:])
			if block == want {
				data = append(data, p[4:]...)
				maxBlock = max(maxBlock, len(p)-4)
				want++
			}
			c.sendPeer(ack(block))
			if block == want-1 && len(p)-4 < blksize {
				return data, oack, maxBlock, nil
			}
		case opERROR:
			return nil, nil, 0, fmt.Errorf("TFTP error %d: %s", binary.BigEndian.Uint16(p[2:]), bytes.TrimRight(p[4:], "\x00"))
		default:
			return nil, nil, 0, fmt.Errorf("unexpected opcode %d", binary.BigEndian.Uint16(p))
		}
	}
}
