package tftp

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestRetransmittedRRQIsNotANewTransfer: a client resends its RRQ from
// the same port three times before reading any answer (as firmware does
// when the first answer is slow). One transfer sends the file; nothing
// comes from another port until the client has acknowledged a block of
// it, and nothing at all for the retransmissions (as dnsmasq: an error from
// another port is ignored by the client anyway).
func TestRetransmittedRRQIsNotANewTransfer(t *testing.T) {
	base := runtime.NumGoroutine()
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 10 * time.Second})
	cl := newRaw(t, ts.port)
	rrq := request(opRRQ, bigFile, "octet", "blksize", "1468", "tsize", "0")
	for range 4 {
		cl.send(rrq)
	}
	p, err := cl.recv(10 * time.Second)
	if err != nil || binary.BigEndian.Uint16(p) != opOACK {
		t.Fatalf("want an OACK, got %q %v", p, err)
	}
	peer := *cl.peer
	port := peer.Port
	// Before the client acknowledges anything, the retransmissions get no
	// answer at all.
	if p, err := cl.recv(500 * time.Millisecond); err != errSilence {
		t.Fatalf("before the first ACK: got %q from port %d (%v), want silence", p, cl.peer.Port, err)
	}
	if got := ts.retransmits.Load(); got != 0 {
		t.Fatalf("%d retransmissions answered before the first ACK", got)
	}
	cl.conn.WriteToUDP(ack(0), &peer)
	var data []byte
	var want uint16 = 1
	for done := false; !done; {
		p, err := cl.recv(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(data), err)
		}
		op := binary.BigEndian.Uint16(p)
		if cl.peer.Port != port {
			t.Fatalf("opcode %d %q from port %d, not the transfer's %d: an answer to a retransmission", op, p[4:], cl.peer.Port, port)
		}
		if op != opDATA {
			t.Fatalf("opcode %d from the transfer", op)
		}
		if block := binary.BigEndian.Uint16(p[2:]); block == want {
			data = append(data, p[4:]...)
			want++
			done = len(p)-4 < 1468
		}
		cl.conn.WriteToUDP(ack(want-1), &peer)
	}
	if !bytes.Equal(data, r.files[bigFile]) {
		t.Fatalf("got %d bytes, want the %d of %s", len(data), len(r.files[bigFile]), bigFile)
	}
	// Nothing trails the last block either.
	if p, err := cl.recv(time.Second); err != errSilence {
		t.Fatalf("after the transfer: %q from port %d (%v), want silence", p, cl.peer.Port, err)
	}
	if evs := ts.rec.wait(t, 1); len(evs) != 1 {
		t.Fatalf("events %+v, want one transfer", evs)
	}
	if got := ts.retransmits.Load(); got != 3 {
		t.Fatalf("%d retransmissions counted, want 3", got)
	}
	if ts.transfers.Load() != 1 || ts.inflight.size() != 0 || ts.running.Load() != 0 {
		t.Fatalf("transfers %d, tracked %d, running %d; want 1, 0, 0", ts.transfers.Load(), ts.inflight.size(), ts.running.Load())
	}
	if strings.Contains(ts.log.String(), "level=WARN") {
		t.Fatalf("a warning for a retransmission:\n%s", ts.log.String())
	}
	ts.stop()
	waitGoroutines(t, base)
}

// TestRRQAgainAfterProbeFromSamePort: a PXE ROM asks for tsize, ends that
// transfer with an error and asks again at once from the same port; the
// second RRQ may reach the server before the first transfer has ended, and
// is served, not taken for a retransmission.
func TestRRQAgainAfterProbeFromSamePort(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	for i := range 20 {
		cl := newRaw(t, ts.port)
		cl.send(request(opRRQ, smallFile, "octet", "tsize", "0", "blksize", "1432"))
		p, err := cl.recv(10 * time.Second)
		if err != nil || binary.BigEndian.Uint16(p) != opOACK {
			t.Fatalf("try %d: want an OACK, got %q %v", i, p, err)
		}
		probe := cl.peer.Port
		cl.sendPeer(append([]byte{0, opERROR, 0, 8}, "tsize probe\x00"...))
		cl.send(request(opRRQ, smallFile, "octet", "blksize", "1432"))
		// smallFile fits one block: an OACK, then one DATA. The probe's
		// transfer echoes an error from its own port: not ours.
		var got []byte
		for got == nil {
			p, err := cl.recv(10 * time.Second)
			if err != nil {
				t.Fatalf("try %d: the real transfer from the probe's port: %v", i, err)
			}
			if cl.peer.Port == probe {
				continue
			}
			switch op := binary.BigEndian.Uint16(p); op {
			case opOACK:
				cl.sendPeer(ack(0))
			case opDATA:
				got = p[4:]
				cl.sendPeer(ack(1))
			default:
				t.Fatalf("try %d: opcode %d %q from the real transfer", i, op, p[2:])
			}
		}
		if !bytes.Equal(got, r.files[smallFile]) {
			t.Fatalf("try %d: got %q", i, got)
		}
	}
	if got := ts.retransmits.Load(); got != 0 {
		t.Fatalf("%d requests taken for retransmissions", got)
	}
}
