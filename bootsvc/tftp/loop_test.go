package tftp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAckJustBeforeDeadlineIsNotResentEarly: the loop keeps one timer a
// transfer and moves its deadline on an ACK without touching the heap.
// A block acknowledged just before its resend was due must not be
// followed by a resend of the next block when the old deadline comes up,
// only a full timeout after that block went out.
func TestAckJustBeforeDeadlineIsNotResentEarly(t *testing.T) {
	const T = 400 * time.Millisecond
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: T, Retries: 3})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet"))
	p, err := cl.recv(5 * time.Second)
	if err != nil || binary.BigEndian.Uint16(p) != opDATA || binary.BigEndian.Uint16(p[2:]) != 1 {
		t.Fatalf("want block 1, got %q %v", p, err)
	}
	time.Sleep(T * 3 / 4)
	cl.sendPeer(ack(1))
	p, err = cl.recv(5 * time.Second)
	if err != nil || binary.BigEndian.Uint16(p[2:]) != 2 {
		t.Fatalf("want block 2, got %q %v", p, err)
	}
	sent := time.Now()
	// Block 1's deadline passes T/4 from now; block 2's is T from sent.
	p, err = cl.recv(5 * time.Second)
	if err != nil {
		t.Fatalf("block 2 was never resent: %v", err)
	}
	if gap := time.Since(sent); binary.BigEndian.Uint16(p[2:]) != 2 || gap < T*8/10 {
		t.Fatalf("block %d came again %v after block 2 went out, want block 2 after about %v",
			binary.BigEndian.Uint16(p[2:]), gap, T)
	}
	cl.sendPeer(append([]byte{0, opERROR, 0, 0}, "done\x00"...))
	waitLog(t, ts, "done")
}

// TestLoopServesManyAtOnce: a hundred clients fetch at once, each from
// its own port, acknowledging in lock step; every one gets the whole file,
// each transfer's socket is closed at its end, and the loop keeps nothing.
func TestLoopServesManyAtOnce(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 2 * time.Second, MaxPerClient: 200})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	clients := make([]*rawClient, 100)
	for i := range clients {
		clients[i] = newRaw(t, ts.port)
	}
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, _, err := cl.fetch(bigFile, "blksize", "1468", "tsize", "0")
			if err == nil && !bytes.Equal(got, r.files[bigFile]) {
				err = fmt.Errorf("client %d: got %d bytes, want %d", i, len(got), len(r.files[bigFile]))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ts.rec.wait(t, 100)
	for deadline := time.Now().Add(10 * time.Second); ts.running.Load() != 0 || ts.inflight.size() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("running %d, tracked %d after every client is done", ts.running.Load(), ts.inflight.size())
		}
	}
}

// TestLoopCallsOnSentAsLastBlockGoes: the loop calls onSent as the
// file's last block goes out, so the TFTP stage is recorded before the
// client has the file (it goes on to iPXE's DHCP and HTTP at once, other
// services record those), once however often the block is resent, and
// never for a transfer the client ended before the last block.
func TestLoopCallsOnSentAsLastBlockGoes(t *testing.T) {
	lp, err := newLoop(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lp.close()
	data := bytes.Repeat([]byte("x"), 600) // two blocks of 512
	for _, tc := range []struct {
		name   string
		abort  bool
		onSent int
	}{{"whole file", false, 1}, {"ended by the client at block 1", true, 0}} {
		cl := newRaw(t, 1) // only its socket: the loop's transfer talks to it
		srv := cl.conn.LocalAddr().(*net.UDPAddr).AddrPort()
		fd, err := dialClient(inbound{from: srv, local: srv.Addr()})
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int32
		done := make(chan error, 1)
		x := &xfer{fd: fd, src: source{data: data, size: int64(len(data))}, neg: negotiated{blockSize: 512},
			timeout: 200 * time.Millisecond, retries: 3, acked: func() {}, onSent: func() { calls.Add(1) },
			onEnd: func(_ int64, err error) { done <- err }}
		lp.start(x)
		p, err := cl.recv(5 * time.Second)
		if err != nil || binary.BigEndian.Uint16(p) != opDATA || binary.BigEndian.Uint16(p[2:]) != 1 {
			t.Fatalf("%s: want block 1, got %q %v", tc.name, p, err)
		}
		if calls.Load() != 0 {
			t.Fatalf("%s: onSent called before the last block went out", tc.name)
		}
		if tc.abort {
			cl.sendPeer(append([]byte{0, opERROR, 0, 0}, "no\x00"...))
		} else {
			cl.sendPeer(ack(1))
			// The last block, then its resend (not acknowledged yet).
			for range 2 {
				p, err := cl.recv(5 * time.Second)
				if err != nil || binary.BigEndian.Uint16(p[2:]) != 2 {
					t.Fatalf("%s: want block 2, got %q %v", tc.name, p, err)
				}
				if calls.Load() != 1 {
					t.Fatalf("%s: the client has the last block, onSent called %d times, want 1", tc.name, calls.Load())
				}
			}
			cl.sendPeer(ack(2))
		}
		err = <-done
		if (err != nil) != tc.abort || int(calls.Load()) != tc.onSent {
			t.Fatalf("%s: err %v, onSent called %d times; want error %v, %d calls", tc.name, err, calls.Load(), tc.abort, tc.onSent)
		}
	}
}

// TestNoGoroutinePerRunningTransfer: fifty transfers in progress (each
// client has its first block and has not acknowledged it) hold no
// goroutine each: the loop runs them all, and their requests' goroutines
// have returned.
func TestNoGoroutinePerRunningTransfer(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 30 * time.Second, MaxPerClient: 100})
	time.Sleep(50 * time.Millisecond) // Serve and its loop are up
	base := runtime.NumGoroutine()
	for i := range 50 {
		cl := newRaw(t, ts.port)
		cl.send(request(opRRQ, bigFile, "octet"))
		if p, err := cl.recv(10 * time.Second); err != nil || binary.BigEndian.Uint16(p) != opDATA {
			t.Fatalf("client %d: first block: %q %v", i, p, err)
		}
	}
	if got := ts.running.Load(); got != 50 {
		t.Fatalf("%d transfers running, want 50", got)
	}
	var n int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n-base < 10 || time.Now().After(deadline) {
			break
		}
	}
	if n-base >= 10 {
		t.Fatalf("%d goroutines more with 50 transfers running (want fewer than 10)", n-base)
	}
}
