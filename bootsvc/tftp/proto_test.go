package tftp

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// The timeout option (RFC 2349) is answered, and the transfer resends at
// that pace; a value out of 1..255 is left out of the OACK.
func TestTimeoutOption(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	data, oack, _, err := newRaw(t, ts.port).fetch(bigFile, "timeout", "3", "blksize", "1468")
	if err != nil || !bytes.Equal(data, r.files[bigFile]) {
		t.Fatalf("%d bytes, %v", len(data), err)
	}
	if oack["timeout"] != "3" || oack["blksize"] != "1468" {
		t.Fatalf("OACK %v, want timeout 3 and blksize 1468", oack)
	}
	_, oack, _, err = newRaw(t, ts.port).fetch(bigFile, "timeout", "0", "tsize", "0")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := oack["timeout"]; ok {
		t.Fatalf("OACK %v acknowledges timeout 0", oack)
	}
	// The negotiated timeout is what the server waits: no resend of the
	// first block within 1.5 s (the server's own timeout is 0.5 s).
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet", "timeout", "2"))
	if p, err := cl.recv(5 * time.Second); err != nil || binary.BigEndian.Uint16(p) != opOACK {
		t.Fatalf("want an OACK: %q %v", p, err)
	}
	cl.sendPeer(ack(0))
	if p, err := cl.recv(5 * time.Second); err != nil || binary.BigEndian.Uint16(p[2:]) != 1 {
		t.Fatalf("want block 1: %q %v", p, err)
	}
	if p, err := cl.recv(1500 * time.Millisecond); err != errSilence {
		t.Fatalf("block 1 resent before the negotiated 2 s: %q %v", p, err)
	}
	cl.sendPeer(append([]byte{0, opERROR, 0, 0}, "done\x00"...))
}

// A client whose port is gone (it gave up and closed its socket) ends the
// transfer at the next resend, not after every retry: the transfer's
// socket is connected, so the ICMP port unreachable reaches it.
func TestClosedClientPortEndsTransfer(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 200 * time.Millisecond, Retries: 100})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet"))
	if p, err := cl.recv(5 * time.Second); err != nil || binary.BigEndian.Uint16(p) != opDATA {
		t.Fatalf("first block: %q %v", p, err)
	}
	cl.conn.Close()
	start := time.Now()
	waitLog(t, ts, "port is closed")
	// 100 retries of 200 ms would be 20 s.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the transfer to a closed port ended after %v", d)
	}
	for deadline := time.Now().Add(5 * time.Second); ts.running.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the transfer still holds its slot")
		}
	}
}

// Request parsing: a name needs its NUL, a missing mode is octet, option
// names are case-insensitive.
func TestParseRequest(t *testing.T) {
	r, err := parseRequest(request(opRRQ, "a.bin", "NetASCII", "BLKSIZE", "1468"))
	if err != nil || r.file != "a.bin" || !r.netascii() || len(r.opts) != 1 || r.opts[0] != (option{"blksize", "1468"}) {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := parseRequest(append([]byte{0, opRRQ}, "a.bin\x00"...)); err != nil || r.mode != "" || r.netascii() {
		t.Fatalf("missing mode: %+v %v", r, err)
	}
	for _, p := range [][]byte{nil, {0, opRRQ}, append([]byte{0, opRRQ}, "a.bin"...), ack(1), append([]byte{0, opDATA}, "x\x00y\x00"...)} {
		if _, err := parseRequest(p); err == nil {
			t.Errorf("%q parsed", p)
		}
	}
	if got := string(toNetascii([]byte("a\nb\rc"))); got != "a\r\nb\r\x00c" {
		t.Fatalf("netascii %q", got)
	}
	if e := appendError(nil, codeNotFound, strings.Repeat("x", 1000)); len(e) > 410 || e[len(e)-1] != 0 {
		t.Fatalf("error packet of %d bytes", len(e))
	}
}

// A client that does not acknowledge is sent the block again after the
// timeout, then after twice and four times it (never more), not once per
// timeout: resends back off as dnsmasq's do.
func TestResendBacksOff(t *testing.T) {
	const T = 150 * time.Millisecond
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: T, Retries: 4})
	cl := newRaw(t, ts.port)
	cl.send(request(opRRQ, bigFile, "octet"))
	var at []time.Time
	for len(at) < 5 {
		p, err := cl.recv(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d copies of block 1: %v", len(at), err)
		}
		if binary.BigEndian.Uint16(p) != opDATA || binary.BigEndian.Uint16(p[2:]) != 1 {
			t.Fatalf("want block 1 again, got %q", p[:min(len(p), 16)])
		}
		at = append(at, time.Now())
	}
	want := []time.Duration{T, 2 * T, 4 * T, 4 * T}
	for i, w := range want {
		gap := at[i+1].Sub(at[i])
		// Late is the scheduler; early is a resend that did not back off.
		if gap < w*8/10 || gap > w+3*T {
			t.Errorf("copy %d of block 1 came %v after the one before, want about %v (gaps %v)", i+2, gap, w, want)
		}
	}
	waitLog(t, ts, "tftp: transfer aborted")
}
