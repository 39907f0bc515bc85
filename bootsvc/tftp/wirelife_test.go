package tftp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// A snapshot swap while a transfer runs: the running transfer finishes with
// the file it opened; the next request sees the new root.
func TestSnapshotSwapWhileServing(t *testing.T) {
	a, b := makeRoot(t), makeRoot(t) // same names, different random content
	ts := startServer(t, a.dir, Config{Timeout: 5 * time.Second})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet"))
	first, err := cl.recv(10 * time.Second)
	if err != nil || binary.BigEndian.Uint16(first) != opDATA {
		t.Fatalf("first packet %v, %v", first, err)
	}
	ts.Update(snapshot(b.dir))
	// Finish the transfer by hand.
	data := append([]byte(nil), first[4:]...)
	block := uint16(1)
	for {
		cl.sendPeer(ack(block))
		p, err := cl.recv(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint16(p) != opDATA || binary.BigEndian.Uint16(p[2:]) != block+1 {
			continue // a resend
		}
		block++
		data = append(data, p[4:]...)
		if len(p)-4 < 512 {
			cl.sendPeer(ack(block))
			break
		}
	}
	if !bytes.Equal(data, a.files[bigFile]) {
		t.Fatal("the transfer running across the swap did not get the old root's file")
	}
	got, _, _, err := newRaw(t, ts.port).fetch(bigFile)
	if err != nil || !bytes.Equal(got, b.files[bigFile]) {
		t.Fatalf("after the swap: %d bytes, err %v; want the new root's file", len(got), err)
	}
	// Boot binaries are resolved per snapshot too.
	got, _, _, err = newRaw(t, ts.port).fetch("ipxe.efi")
	if err != nil || !bytes.Equal(got, b.files["ipxe.efi"]) {
		t.Fatalf("ipxe.efi after the swap: %d bytes, err %v", len(got), err)
	}
	// A snapshot without nodes: transfers still work, events have no node.
	ts.Update(bootsvc.NewSnapshot(bootsvc.Server{IPXEDir: b.dir}, nil, nil, ""))
	if _, _, _, err := newRaw(t, ts.port).fetch(smallFile); err != nil {
		t.Fatal(err)
	}
	ts.rec.wait(t, 4)
	if ev, ok := ts.rec.find(status.StageTFTP, smallFile); !ok || ev.Node != "" || ev.MAC != "" {
		t.Fatalf("event for an unknown client: %+v (found %v)", ev, ok)
	}
}

// A stalled client does not hold up others: while one transfer waits for
// an ACK that never comes, other transfers complete.
func TestStalledClientDoesNotBlockOthers(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 10 * time.Second})
	stalled := newRaw(t, ts.port)
	stalled.send(request(opRRQ, bigFile, "octet"))
	if p, err := stalled.recv(10 * time.Second); err != nil || binary.BigEndian.Uint16(p) != opDATA {
		t.Fatalf("stalled client's first packet: %v %v", p, err)
	}
	for range 5 {
		got, _, _, err := newRaw(t, ts.port).fetch(bigFile, "blksize", "1468")
		if err != nil || !bytes.Equal(got, r.files[bigFile]) {
			t.Fatalf("transfer next to a stalled one: %d bytes, %v", len(got), err)
		}
	}
	// The stalled transfer still continues where it was.
	stalled.sendPeer(ack(1))
	p, err := stalled.recv(10 * time.Second)
	if err != nil || binary.BigEndian.Uint16(p) != opDATA || binary.BigEndian.Uint16(p[2:]) != 2 {
		t.Fatalf("stalled transfer after its ACK: %v %v", p, err)
	}
	// The client gives up with an ERROR packet: the server ends the
	// transfer at once, without recording it.
	stalled.sendPeer(append([]byte{0, opERROR, 0, 0}, "client gave up\x00"...))
	waitLog(t, ts, "client gave up")
	if got := len(ts.rec.wait(t, 5)); got != 5 {
		t.Fatalf("%d events, want the 5 completed transfers", got)
	}
}

// Beyond MaxTransfers a request is refused as busy, and served again once
// a transfer ends.
func TestMaxTransfers(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{MaxTransfers: 1, Timeout: 10 * time.Second})
	stalled := newRaw(t, ts.port)
	stalled.send(request(opRRQ, bigFile, "octet"))
	if p, err := stalled.recv(10 * time.Second); err != nil || binary.BigEndian.Uint16(p) != opDATA {
		t.Fatalf("first transfer: %v %v", p, err)
	}
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, smallFile, "octet"))
	if msg := cl.expectError(); !strings.Contains(msg, "busy") {
		t.Fatalf("second transfer: %q, want busy", msg)
	}
	for _, ev := range ts.rec.all() {
		if ev.Stage != status.StageTFTP {
			t.Errorf("a busy refusal was recorded: %+v", ev)
		}
	}
	stalled.sendPeer(append([]byte{0, opERROR, 0, 0}, "bye\x00"...))
	waitLog(t, ts, "bye")
	for deadline := time.Now().Add(20 * time.Second); ts.running.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the aborted transfer is still counted as running")
		}
	}
	if got, _, _, err := newRaw(t, ts.port).fetch(smallFile); err != nil || !bytes.Equal(got, r.files[smallFile]) {
		t.Fatalf("after the first transfer ended: %q %v", got, err)
	}
}

// Cancelling Serve aborts a running transfer at its next block with a TFTP
// error, Serve returns, and no goroutine is left.
func TestShutdownMidTransfer(t *testing.T) {
	base := runtime.NumGoroutine()
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 10 * time.Second})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet"))
	if p, err := cl.recv(10 * time.Second); err != nil || binary.BigEndian.Uint16(p) != opDATA {
		t.Fatalf("first packet: %v %v", p, err)
	}
	ts.cancel()
	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	cl.sendPeer(ack(1))
	if msg := cl.expectError(); !strings.Contains(msg, "shutting down") {
		t.Fatalf("error %q, want shutting down", msg)
	}
	<-stopped
	if !strings.Contains(ts.log.String(), "tftp: stopped") {
		t.Fatalf("no stop line:\n%s", ts.log.String())
	}
	// The listening port is closed.
	if conn, err := Listen(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ts.port)); err != nil {
		t.Fatalf("port still busy after Serve returned: %v", err)
	} else {
		conn.Close()
	}
	cl.conn.Close()
	waitGoroutines(t, base)
}

// A client that vanishes mid-transfer: the server resends, gives up, logs
// it, records nothing and keeps no goroutine.
func TestVanishedClient(t *testing.T) {
	base := runtime.NumGoroutine()
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 100 * time.Millisecond, Retries: 2})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet", "blksize", "1468"))
	if _, err := cl.recv(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitLog(t, ts, "tftp: transfer aborted")
	if ev := ts.rec.all(); len(ev) != 0 {
		t.Fatalf("an aborted transfer was recorded: %+v", ev)
	}
	// It keeps serving.
	if got, _, _, err := newRaw(t, ts.port).fetch(smallFile); err != nil || !bytes.Equal(got, r.files[smallFile]) {
		t.Fatalf("after a vanished client: %q %v", got, err)
	}
	ts.stop()
	cl.conn.Close()
	waitGoroutines(t, base)
}
