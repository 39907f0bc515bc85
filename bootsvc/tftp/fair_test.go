package tftp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newRawFrom is newRaw with the client's own address: any 127.0.0.0/8
// address is local, so each stands for a different host.
func newRawFrom(t *testing.T, port uint16, from net.IP) *rawClient {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: from})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)}}
}

// TestFloodingHostDoesNotStarveOthers: one host sends 60 RRQs and never
// ACKs, so each transfer it starts holds its slot for the whole timeout.
// It gets its first MaxPerClient transfers and a TFTP error at once for
// every other request; 12 hosts fetching at the same time, and a real
// atftp client, all get their files from the 24 slots, which the flooder
// alone would otherwise fill.
func TestFloodingHostDoesNotStarveOthers(t *testing.T) {
	needTool(t, "atftp")
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{MaxTransfers: 24, Timeout: 10 * time.Second})
	flooder := net.IPv4(127, 0, 0, 2)
	// Each request from its own port: a request resent from the same port
	// is a retransmission, never a second transfer.
	const rrqs = 60
	flood := make([]*rawClient, rrqs)
	for i := range flood {
		flood[i] = newRawFrom(t, ts.port, flooder)
		flood[i].send(request(opRRQ, bigFile, "octet"))
	}
	data, refused := 0, 0
	var stalled []*rawClient
	defer func() {
		// End the stalled transfers, so Serve stops without waiting out
		// their retries.
		for _, c := range stalled {
			c.sendPeer(append([]byte{0, opERROR, 0, 0}, "bye\x00"...))
		}
	}()
	for i, c := range flood {
		p, err := c.recv(5 * time.Second)
		if err != nil {
			t.Fatalf("request %d, after %d DATA and %d errors: %v", i, data, refused, err)
		}
		switch op := binary.BigEndian.Uint16(p); op {
		case opDATA:
			data++
			stalled = append(stalled, c)
		case opERROR:
			if msg := string(bytes.TrimRight(p[4:], "\x00")); !strings.Contains(msg, "too many transfers from this address") {
				t.Fatalf("flooder got error %q", msg)
			}
			refused++
		default:
			t.Fatalf("flooder got opcode %d", op)
		}
	}
	if data != DefaultMaxPerClient || refused != rrqs-DefaultMaxPerClient {
		t.Fatalf("flooder: %d transfers started, %d refused; want %d and %d", data, refused, DefaultMaxPerClient, rrqs-DefaultMaxPerClient)
	}
	if got := ts.clients.running(netip.MustParseAddr("127.0.0.2")); got != DefaultMaxPerClient {
		t.Fatalf("flooder holds %d transfers, want %d", got, DefaultMaxPerClient)
	}

	// The flooder's transfers are still waiting for ACKs: others fetch now.
	fetchWhileFlooded(t, ts, r)
	if ts.running.Load() > 24 {
		t.Fatalf("%d transfers running, cap 24", ts.running.Load())
	}
	// The refusals are not recorded as node events and the log is bounded.
	if n := strings.Count(ts.log.String(), "too many transfers"); n == 0 || n > 2*ts.bad.Burst() {
		t.Fatalf("%d log lines for %d refusals, want 1..%d", n, refused, 2*ts.bad.Burst())
	}
}

// fetchWhileFlooded has 12 hosts fetch a file of r from ts at the same
// time, and a real atftp client another: each must get its file whole.
func fetchWhileFlooded(t *testing.T, ts *testServer, r *testRoot) {
	var wg sync.WaitGroup
	errs := make(chan error, 13)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newRawFrom(t, ts.port, net.IPv4(127, 0, 1, byte(10+i)))
			got, _, _, err := c.fetch(bigFile, "blksize", "1468")
			if err != nil || !bytes.Equal(got, r.files[bigFile]) {
				errs <- fmt.Errorf("host 127.0.1.%d: %d bytes, %v", 10+i, len(got), err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		out := filepath.Join(t.TempDir(), "undionly.kpxe")
		o := atftpGet(t, ts.port, "undionly.kpxe", out)
		if b, err := os.ReadFile(out); err != nil || !bytes.Equal(b, r.files["undionly.kpxe"]) {
			errs <- fmt.Errorf("atftp from 127.0.0.1: %v: %s", err, o)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Slots are per address and given back: once a client's transfers end it
// may start new ones.
func TestClientSlots(t *testing.T) {
	c := newClientSlots(2)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for i := range 2 {
		if !c.acquire(a) {
			t.Fatalf("slot %d refused", i+1)
		}
	}
	if c.acquire(a) {
		t.Fatal("third slot for the same address granted")
	}
	if !c.acquire(b) {
		t.Fatal("another address refused while the first is full")
	}
	c.release(a)
	if !c.acquire(a) {
		t.Fatal("slot not given back")
	}
	c.release(a)
	c.release(a)
	c.release(b)
	if len(c.n) != 0 {
		t.Fatalf("table keeps idle addresses: %v", c.n)
	}
}
