package tftp

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Garbage at the listening port: each gets an error reply or silence, the
// server logs it, keeps serving, and leaves no goroutine behind.
func TestBadInput(t *testing.T) {
	base := runtime.NumGoroutine()
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{Timeout: 200 * time.Millisecond, Retries: 1})
	op := func(o uint16, rest string) []byte { return append(binary.BigEndian.AppendUint16(nil, o), rest...) }
	cases := []badPacket{
		{"empty datagram", nil, "silence"},
		{"one byte", []byte{0}, "silence"},
		{"opcode only", op(opRRQ, ""), "silence"},
		{"truncated RRQ", op(opRRQ, "a"), "silence"},
		{"RRQ without NULs", op(opRRQ, smallFile), "silence"},
		{"RRQ without mode", op(opRRQ, "small.txt\x00"), "any"},
		{"opcode 0", op(0, "small.txt\x00octet\x00"), "silence"},
		{"opcode 7", op(7, "small.txt\x00octet\x00"), "silence"},
		{"opcode 65535", op(65535, "x"), "silence"},
		{"DATA to the listening port", op(opDATA, "\x00\x01hello"), "silence"},
		{"ACK to the listening port", ack(1), "silence"},
		{"short ACK", op(opACK, "\x00"), "silence"},
		{"ERROR to the listening port", op(opERROR, "\x00\x01boom\x00"), "silence"},
		{"OACK to the listening port", op(opOACK, "blksize\x001468\x00"), "silence"},
		{"WRQ", request(opWRQ, "new.bin", "octet"), "error"},
		{"WRQ with options", request(opWRQ, "new.bin", "octet", "tsize", "100", "blksize", "1468"), "error"},
		{"mail mode", request(opRRQ, smallFile, "mail"), "any"},
		{"garbage mode", request(opRRQ, smallFile, "\xff\xfe"), "any"},
		{"garbage options", request(opRRQ, smallFile, "octet", "blksize", "lots", "tsize", "-5", "\xff", "\x01"), "any"},
		{"odd option count", request(opRRQ, smallFile, "octet", "blksize"), "any"},
		{"huge blksize", request(opRRQ, smallFile, "octet", "blksize", "99999999999999999999"), "any"},
		{"negative blksize", request(opRRQ, smallFile, "octet", "blksize", "-1468"), "any"},
		{"empty filename", request(opRRQ, "", "octet"), "error"},
		{"long filename", request(opRRQ, strings.Repeat("x", 400), "octet"), "error"},
		// Larger than the library's 516-byte request buffer: cut short,
		// then no NUL is left to end the name.
		{"huge filename", request(opRRQ, strings.Repeat("y", 2000), "octet"), "silence"},
		{"huge datagram", bytes.Repeat([]byte{0xff}, 60000), "silence"},
		{"NUL-only", make([]byte, 600), "silence"},
	}
	checkSilentCases(t, ts, r, cases)
	for _, c := range cases {
		if c.reply == "silence" {
			continue
		}
		cl := newRaw(t, ts.port)
		cl.send(c.packet)
		p, err := cl.recv(10 * time.Second)
		switch {
		case c.reply == "error" && (err != nil || binary.BigEndian.Uint16(p) != opERROR):
			t.Errorf("%s: want an ERROR reply, got %v %q", c.name, err, p)
		case c.reply == "any" && err != nil:
			t.Errorf("%s: want a reply, got %v", c.name, err)
		}
		// Walk away: a started transfer is given up by the server.
		cl.conn.Close()
	}
	// Every silent case left a log line.
	if got := ts.badPkts.Load(); got < 16 {
		t.Errorf("%d bad packets counted, want one per silent case", got)
	}
	if !strings.Contains(ts.log.String(), "tftp: bad packet ignored") {
		t.Errorf("no log line for bad packets:\n%s", ts.log.String())
	}
	// Still serving.
	got, _, _, err := newRaw(t, ts.port).fetch(bigFile, "blksize", "1468")
	if err != nil || !bytes.Equal(got, r.files[bigFile]) {
		t.Fatalf("after bad input: %d bytes, %v", len(got), err)
	}
	ts.stop()
	waitGoroutines(t, base)
}

// badPacket is one bad datagram of TestBadInput and the reply it gets.
type badPacket struct {
	name   string
	packet []byte
	reply  string // "silence", "error" or "any" (the transfer may start)
}

// checkSilentCases sends the cases that deserve silence, all from one
// client, then a good request: the listening loop takes packets in order,
// so anything the bad ones started would show up around the good one's
// reply (a file of r, from server ts).
func checkSilentCases(t *testing.T, ts *testServer, r *testRoot, cases []badPacket) {
	quiet := newRaw(t, ts.port)
	for _, c := range cases {
		if c.reply == "silence" {
			quiet.send(c.packet)
		}
	}
	quiet.send(request(opRRQ, smallFile, "octet"))
	for {
		p, err := quiet.recv(10 * time.Second)
		if err != nil {
			t.Fatalf("no reply to the good request after the bad ones: %v", err)
		}
		if binary.BigEndian.Uint16(p) == opDATA && string(p[4:]) == string(r.files[smallFile]) {
			quiet.sendPeer(ack(1))
			break
		}
		t.Errorf("reply to a packet that deserves silence: %q", p)
	}
	for {
		p, err := quiet.recv(300 * time.Millisecond)
		if err == errSilence {
			break
		}
		if err == nil && binary.BigEndian.Uint16(p) == opDATA && string(p[4:]) == string(r.files[smallFile]) {
			quiet.sendPeer(ack(1)) // a resend: our ACK was late
			continue
		}
		t.Errorf("reply to a packet that deserves silence: %v %q", err, p)
		break
	}
}

// A flood of bad packets is logged, but not line by line.
func TestBadInputLogIsRateLimited(t *testing.T) {
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	cl := newRaw(t, ts.port)
	const n = 150
	for range n {
		cl.send([]byte{0, 42})
	}
	// The flood is over when a good request is answered after it.
	if _, _, _, err := newRaw(t, ts.port).fetch(smallFile); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(ts.log.String(), "bad packet ignored")
	if lines == 0 || lines > 2*ts.bad.Burst() {
		t.Fatalf("%d log lines for %d bad packets, want 1..%d", lines, n, 2*ts.bad.Burst())
	}
	if ts.bad.Suppressed() == 0 {
		t.Fatal("no dropped line counted")
	}
}

// Every transfer, refusal and bad packet gives back its socket and file:
// after Serve returns, the process holds no more descriptors than before.
func TestNoDescriptorLeak(t *testing.T) {
	r := makeRoot(t)
	base := openFDs(t)
	ts := startServer(t, r.dir, Config{Timeout: 100 * time.Millisecond, Retries: 1})
	for i := range 10 {
		cl := newRaw(t, ts.port)
		switch i % 5 {
		case 0:
			if _, _, _, err := cl.fetch(bigFile, "blksize", "1468"); err != nil {
				t.Fatal(err)
			}
		case 1:
			cl.send(request(opRRQ, "../../etc/passwd", "octet"))
			cl.expectError()
		case 2:
			cl.send(request(opWRQ, "x", "octet"))
			cl.expectError()
		case 3:
			cl.send(request(opRRQ, bigFile, "octet")) // then walk away
			if _, err := cl.recv(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		case 4:
			cl.send([]byte{0, 9, 9})
		}
		cl.conn.Close()
	}
	waitLog(t, ts, "tftp: transfer aborted") // the walked-away transfers gave up
	ts.stop()
	deadline := time.Now().Add(20 * time.Second)
	for openFDs(t) > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after Serve returned, %d before", openFDs(t), base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}
