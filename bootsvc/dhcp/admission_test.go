package dhcp

import (
	"context"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The admission gate on real UDP sockets on loopback: the server reads a
// socket of its own; every answer (a broadcast on a real segment) is
// delivered to the test client's socket, as the segment would.

// toClient is the server's socket, with every answer sent to the client.
type toClient struct {
	*net.UDPConn
	client *net.UDPAddr
}

func (c toClient) WriteTo(b []byte, _ net.Addr) (int, error) { return c.UDPConn.WriteTo(b, c.client) }

// gateRig is one server with an admission gate and one client socket.
type gateRig struct {
	t      *testing.T
	s      *Server
	adm    *Admission
	rec    status.Recorder // what the TFTP and HTTP services would record into
	client *net.UDPConn
	srv    *net.UDPAddr
	stop   func()
}

func newGateRig(t *testing.T, cfg AdmissionConfig) *gateRig {
	t.Helper()
	adm := NewAdmission(cfg)
	s, err := New(Config{Workers: 1, Admission: adm, // one reader: requests handled in the order sent
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	mustNoErr(t, err)
	s.Update(testSnapshot(snapOpts{}))
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	mustNoErr(t, err)
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	mustNoErr(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, toClient{srv, client.LocalAddr().(*net.UDPAddr)}) }()
	r := &gateRig{t: t, s: s, adm: adm, rec: adm.Recorder(status.Discard{}), client: client,
		srv: srv.LocalAddr().(*net.UDPAddr)}
	var stopped bool
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
		client.Close()
	}
	t.Cleanup(r.stop)
	return r
}

// send sends a request from the client.
func (r *gateRig) send(d *dhcpv4.DHCPv4) {
	r.t.Helper()
	_, err := r.client.WriteTo(d.ToBytes(), r.srv)
	mustNoErr(r.t, err)
}

// recv returns the next answer within wait, or nil.
func (r *gateRig) recv(wait time.Duration) *dhcpv4.DHCPv4 {
	r.t.Helper()
	buf := make([]byte, 1500)
	_ = r.client.SetReadDeadline(time.Now().Add(wait))
	n, err := r.client.Read(buf)
	if err != nil {
		return nil
	}
	p, err := dhcpv4.FromBytes(buf[:n])
	mustNoErr(r.t, err)
	return p
}

// expect waits for an answer of type mt to mac.
func (r *gateRig) expect(mt dhcpv4.MessageType, mac string) *dhcpv4.DHCPv4 {
	r.t.Helper()
	p := r.recv(2 * time.Second)
	if p == nil {
		r.t.Fatalf("no %s for %s", mt, mac)
	}
	if p.MessageType() != mt || p.ClientHWAddr.String() != mac {
		r.t.Fatalf("got %s for %s, want %s for %s", p.MessageType(), p.ClientHWAddr, mt, mac)
	}
	return p
}

// quiet checks that no answer comes for a while.
func (r *gateRig) quiet(why string) {
	r.t.Helper()
	if p := r.recv(300 * time.Millisecond); p != nil {
		r.t.Fatalf("%s: got %s for %s, want nothing", why, p.MessageType(), p.ClientHWAddr)
	}
}

func pxeDiscover(mac string, xid byte) *dhcpv4.DHCPv4 {
	return req(dhcpv4.MessageTypeDiscover, mac, withVendor(pxeBIOS), func(d *dhcpv4.DHCPv4) { d.TransactionID[3] = xid })
}

// TestAdmissionHoldsBeyondLimit: with one boot in flight, a second
// node's DISCOVER gets no answer until the first boot ends (its last
// initrd recorded); then it is answered, with its own xid, and counted.
func TestAdmissionHoldsBeyondLimit(t *testing.T) {
	r := newGateRig(t, AdmissionConfig{Limit: 1})
	r.send(pxeDiscover(macC001, 1))
	r.expect(dhcpv4.MessageTypeOffer, macC001)
	r.send(pxeDiscover(macC002, 2))
	r.quiet("a DISCOVER beyond the limit")
	if st := r.adm.Stats(); st.InFlight != 1 || st.Queued != 1 || st.Held != 1 {
		t.Fatalf("stats %+v, want 1 in flight, 1 queued", st)
	}
	// The first node moves on (TFTP), which ends nothing ...
	r.rec.Record(status.Event{Node: "c001", MAC: macC001, Stage: status.StageTFTP})
	r.quiet("a boot that moved on but did not end")
	// ... and asks for its last initrd: the held DISCOVER is answered.
	r.rec.Record(status.Event{Node: "c001", MAC: macC001, Stage: status.StageRuntimeOverlay})
	p := r.expect(dhcpv4.MessageTypeOffer, macC002)
	if p.TransactionID[3] != 2 || p.YourIPAddr.String() != "10.99.0.12" {
		t.Fatalf("late offer: xid %v, yiaddr %v", p.TransactionID, p.YourIPAddr)
	}
	if st := r.adm.Stats(); st.InFlight != 1 || st.Queued != 0 || st.Answered != 1 {
		t.Fatalf("stats %+v, want c002 in flight, nothing queued", st)
	}
	if got := r.s.Stats().Offers; got != 2 {
		t.Fatalf("offers counted: %d, want 2 (a held DISCOVER counts when answered)", got)
	}
	if got := r.s.Stats().Received; got != 2 {
		t.Fatalf("datagrams counted: %d, want 2 (a held DISCOVER is one datagram)", got)
	}
}

// TestAdmissionNeverHoldsRequests: at the limit, a REQUEST for an
// offered lease, iPXE's DISCOVER and a node's own OS are answered at
// once; a node already in flight is answered again at once.
func TestAdmissionNeverHoldsRequests(t *testing.T) {
	r := newGateRig(t, AdmissionConfig{Limit: 1})
	r.send(pxeDiscover(macC001, 1))
	r.expect(dhcpv4.MessageTypeOffer, macC001)
	r.send(pxeDiscover(macC001, 1)) // a retransmission of a node in flight
	r.expect(dhcpv4.MessageTypeOffer, macC001)

	r.send(req(dhcpv4.MessageTypeRequest, macC002, withVendor(pxeBIOS), withRequested("10.99.0.12"), withServerID("10.99.0.1")))
	r.expect(dhcpv4.MessageTypeAck, macC002)
	r.send(req(dhcpv4.MessageTypeDiscover, "52:54:00:00:02:01", withVendor(pxeBIOS), withIPXE()))
	r.expect(dhcpv4.MessageTypeOffer, "52:54:00:00:02:01")
	// A renewal of a node's own OS (no PXE vendor class) is answered and
	// ends the node's boot in flight.
	r.send(req(dhcpv4.MessageTypeRequest, macC001, withCiaddr("10.99.0.11")))
	r.expect(dhcpv4.MessageTypeAck, macC001)
	if st := r.adm.Stats(); st.Held != 0 || st.InFlight != 2 {
		t.Fatalf("stats %+v: nothing held; c002 and c201 in flight (c001's OS is up)", st)
	}
}

// TestAdmissionQueueBounded: beyond a full queue a DISCOVER is dropped
// (its client sends it again later); a retransmission of a held one
// keeps its place with its newest xid.
func TestAdmissionQueueBounded(t *testing.T) {
	r := newGateRig(t, AdmissionConfig{Limit: 1, Queue: 1})
	r.send(pxeDiscover(macC001, 1))
	r.expect(dhcpv4.MessageTypeOffer, macC001)
	r.send(pxeDiscover(macC002, 2))
	r.send(pxeDiscover("52:54:00:00:02:01", 3))
	r.send(pxeDiscover(macC002, 4)) // retransmission: same place, no new entry
	r.quiet("held and dropped DISCOVERs")
	if st := r.adm.Stats(); st.Queued != 1 || st.Held != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v, want 1 queued, 1 held, 1 dropped", st)
	}
	r.rec.Record(status.Event{MAC: macC001, Stage: status.StageRuntimeOverlay})
	if p := r.expect(dhcpv4.MessageTypeOffer, macC002); p.TransactionID[3] != 4 {
		t.Fatalf("answered xid %v, want the retransmission's", p.TransactionID)
	}
	r.rec.Record(status.Event{MAC: macC002, Stage: status.StageNotFound})
	r.quiet("the dropped DISCOVER is not answered")
	r.send(pxeDiscover("52:54:00:00:02:01", 5)) // its client's retransmission
	r.expect(dhcpv4.MessageTypeOffer, "52:54:00:00:02:01")
}

// TestAdmissionExpiry: a boot with no progress for Idle stops counting
// (the held DISCOVER is answered); a DISCOVER held for Hold is dropped.
func TestAdmissionExpiry(t *testing.T) {
	r := newGateRig(t, AdmissionConfig{Limit: 1, Idle: 400 * time.Millisecond, Hold: time.Hour, Tick: 20 * time.Millisecond})
	r.send(pxeDiscover(macC001, 1))
	r.expect(dhcpv4.MessageTypeOffer, macC001)
	r.send(pxeDiscover(macC002, 2))
	r.expect(dhcpv4.MessageTypeOffer, macC002) // after c001's Idle
	if st := r.adm.Stats(); st.Expired != 1 || st.Answered != 1 {
		t.Fatalf("stats %+v, want 1 expired, 1 answered", st)
	}
	r.stop()

	r = newGateRig(t, AdmissionConfig{Limit: 1, Hold: 200 * time.Millisecond, Tick: 20 * time.Millisecond})
	r.send(pxeDiscover(macC001, 1))
	r.expect(dhcpv4.MessageTypeOffer, macC001)
	r.send(pxeDiscover(macC002, 2))
	r.quiet("held")
	if st := r.adm.Stats(); st.Queued != 0 || st.Dropped != 1 {
		t.Fatalf("stats %+v, want the held DISCOVER dropped after Hold", st)
	}
	r.rec.Record(status.Event{MAC: macC001, Stage: status.StageRuntimeOverlay})
	r.quiet("a dropped DISCOVER")
}

// TestAdmissionSecureRuntimeEndsAtSystem: with secure_runtime the
// script's last initrd is the system overlay.
func TestAdmissionSecureRuntimeEndsAtSystem(t *testing.T) {
	r := newGateRig(t, AdmissionConfig{Limit: 1})
	snap := testSnapshot(snapOpts{})
	snap.Server.SecureRuntime = true
	r.s.Update(snap)
	r.send(pxeDiscover(macC001, 1))
	r.expect(dhcpv4.MessageTypeOffer, macC001)
	r.send(pxeDiscover(macC002, 2))
	r.quiet("held")
	r.rec.Record(status.Event{MAC: macC001, Stage: status.StageSystemOverlay})
	r.expect(dhcpv4.MessageTypeOffer, macC002)
}

// TestAdmissionNoGoroutineLeak: Serve's goroutines, the gate's among
// them, end with its context, held requests or not.
func TestAdmissionNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		r := newGateRig(t, AdmissionConfig{Limit: 1})
		r.send(pxeDiscover(macC001, 1))
		r.expect(dhcpv4.MessageTypeOffer, macC001)
		r.send(pxeDiscover(macC002, 2))
		r.quiet("held")
		r.stop()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
