package dhcp

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/statefile"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// dynamicServer is a Server on the dynamic-range fixture with its state in
// a temp dir.
func dynamicServer(t *testing.T, dir string, rec status.Recorder) *Server {
	t.Helper()
	s, err := New(Config{StateDir: dir, Recorder: rec})
	mustNoErr(t, err)
	s.Update(testSnapshot(snapOpts{dynamic: true}))
	return s
}

// lease runs DISCOVER then REQUEST for mac through s and returns the ACKed
// address.
func leaseFor(t *testing.T, s *Server, mac string, now time.Time) netip.Addr {
	t.Helper()
	m := Meta{LocalPort: ServerPort, Now: now}
	d := s.Handle(req(dhcpv4.MessageTypeDiscover, mac).ToBytes(), m)
	if d.Reply == nil {
		t.Fatalf("%s: no offer: %s", mac, d.Reason)
	}
	offered := d.Reply.YourIPAddr.String()
	d = s.Handle(req(dhcpv4.MessageTypeRequest, mac, withRequested(offered), withServerID("10.99.0.1")).ToBytes(), m)
	if d.Reply == nil || d.Reply.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("%s: request for %s not acked: %s", mac, offered, d.Reason)
	}
	return d.Addr
}

func randomMAC() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	b[0] = b[0]&^1 | 2 // unicast, locally administered
	return net.HardwareAddr(b).String()
}

// TestLeasesNoAddressTwice fills the dynamic range: every client gets a
// different address, never the reserved node address inside the range,
// and the 11th client finds the range full.
func TestLeasesNoAddressTwice(t *testing.T) {
	s := dynamicServer(t, t.TempDir(), nil)
	seen := map[netip.Addr]string{}
	// 10.99.0.200-210 is 11 addresses, one of them (200) reserved for c201.
	for i := 0; i < 10; i++ {
		mac := randomMAC()
		a := leaseFor(t, s, mac, t0)
		if other, dup := seen[a]; dup {
			t.Fatalf("%s given to %s and %s", a, other, mac)
		}
		if a == netip.MustParseAddr("10.99.0.200") {
			t.Fatal("reserved node address 10.99.0.200 handed out dynamically")
		}
		seen[a] = mac
	}
	d := s.Handle(req(dhcpv4.MessageTypeDiscover, randomMAC()).ToBytes(), Meta{LocalPort: ServerPort, Now: t0})
	if d.Reply != nil {
		t.Fatalf("offer %s from a full range", d.Reply.YourIPAddr)
	}
	// A client asking for someone else's address is refused.
	var taken string
	for a := range seen {
		taken = a.String()
		break
	}
	d = s.Handle(req(dhcpv4.MessageTypeRequest, randomMAC(), withRequested(taken)).ToBytes(), Meta{LocalPort: ServerPort, Now: t0})
	if d.Reply == nil || d.Reply.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("request for a leased address: want NAK, got %+v", d.Reason)
	}
	// After the lease time, addresses are free again.
	d = s.Handle(req(dhcpv4.MessageTypeDiscover, randomMAC()).ToBytes(), Meta{LocalPort: ServerPort, Now: t0.Add(2 * time.Hour)})
	if d.Reply == nil {
		t.Fatalf("no offer after all leases expired: %s", d.Reason)
	}
}

// TestLeasesPersist restarts the server on the same state dir: bound
// leases survive, the same MAC gets the same address, a RELEASE frees it
// for others, and a DECLINEd address is not offered again.
func TestLeasesPersist(t *testing.T) {
	dir := t.TempDir()
	s := dynamicServer(t, dir, nil)
	macA, macB := "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	a := leaseFor(t, s, macA, t0)
	b := leaseFor(t, s, macB, t0)

	if _, err := os.Stat(filepath.Join(dir, LeaseFile)); err != nil {
		t.Fatalf("lease file not written: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(matches) != 0 {
		t.Fatalf("temporary files left behind: %v", matches)
	}

	s2 := dynamicServer(t, dir, nil)
	if got := len(s2.Leases().All()); got != 2 {
		t.Fatalf("%d leases after restart, want 2", got)
	}
	if again := leaseFor(t, s2, macA, t0.Add(time.Minute)); again != a {
		t.Fatalf("after restart %s got %s, had %s", macA, again, a)
	}
	// A new client must not get a or b.
	c := leaseFor(t, s2, "02:00:00:00:00:0c", t0.Add(time.Minute))
	if c == a || c == b {
		t.Fatalf("new client got leased address %s", c)
	}

	// RELEASE b: it can go to someone else.
	rel := req(dhcpv4.MessageTypeRelease, macB, withCiaddr(b.String()), withServerID("10.99.0.1"))
	if d := s2.Handle(rel.ToBytes(), Meta{LocalPort: ServerPort, Now: t0.Add(2 * time.Minute)}); d.Reply != nil {
		t.Fatal("RELEASE answered")
	}
	d := s2.Handle(req(dhcpv4.MessageTypeDiscover, "02:00:00:00:00:0d", withRequested(b.String())).ToBytes(),
		Meta{LocalPort: ServerPort, Now: t0.Add(2 * time.Minute)})
	if d.Reply == nil || d.Addr != b {
		t.Fatalf("released %s not offered to a new client asking for it: %v %s", b, d.Addr, d.Reason)
	}

	// DECLINE c: it rests, even for the client that asks for it again.
	dec := req(dhcpv4.MessageTypeDecline, "02:00:00:00:00:0c", withRequested(c.String()), withServerID("10.99.0.1"))
	s2.Handle(dec.ToBytes(), Meta{LocalPort: ServerPort, Now: t0.Add(3 * time.Minute)})
	s3 := dynamicServer(t, dir, nil)
	d = s3.Handle(req(dhcpv4.MessageTypeDiscover, "02:00:00:00:00:0c", withRequested(c.String())).ToBytes(),
		Meta{LocalPort: ServerPort, Now: t0.Add(4 * time.Minute)})
	if d.Reply == nil || d.Addr == c {
		t.Fatalf("declined %s offered again (or no offer: %s)", c, d.Reason)
	}
}

// TestLeaseFileCorrupt: a damaged lease file is a *statefile.CorruptError
// for OpenLeases; New moves it aside (NAME.corrupt-<time>, content kept)
// and starts with no dynamic leases.
func TestLeaseFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, LeaseFile)
	mustNoErr(t, os.WriteFile(p, []byte("{not json"), 0o600))
	var ce *statefile.CorruptError
	if _, err := OpenLeases(dir); !errors.As(err, &ce) || ce.Path != p {
		t.Fatalf("OpenLeases on a corrupt file: %v", err)
	}
	s, err := New(Config{StateDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New with a corrupt lease file: %v", err)
	}
	if n := len(s.leases.All()); n != 0 {
		t.Errorf("%d leases from a corrupt file", n)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("the corrupt lease file is still in place: %v", err)
	}
	if m, _ := filepath.Glob(p + ".corrupt-*"); len(m) != 1 {
		t.Errorf("moved-aside files: %v", m)
	} else if data, _ := os.ReadFile(m[0]); string(data) != "{not json" {
		t.Errorf("moved-aside content %q", data)
	}
}

type countRecorder struct{ events chan status.Event }

func (c countRecorder) Record(e status.Event) {
	select {
	case c.events <- e:
	default:
	}
}

// TestUnknownFlood sends DISCOVERs from many random MACs: the unknown-MAC
// table stays capped, each MAC is reported once per interval, nothing is
// answered, and a known node is still answered afterwards.
func TestUnknownFlood(t *testing.T) {
	rec := countRecorder{events: make(chan status.Event, 100000)}
	s, err := New(Config{Recorder: rec, UnknownMax: 256})
	mustNoErr(t, err)
	s.Update(testSnapshot(snapOpts{}))
	const n = 20000
	for i := 0; i < n; i++ {
		if d := s.Handle(req(dhcpv4.MessageTypeDiscover, randomMAC()).ToBytes(), Meta{LocalPort: ServerPort, Now: t0}); d.Reply != nil {
			t.Fatal("unknown MAC answered")
		}
	}
	if sz := s.unknown.size(); sz > 256 {
		t.Fatalf("unknown-MAC table holds %d entries, cap 256", sz)
	}
	st := s.Stats()
	if st.Unknown != n || st.Suppressed != n-256 {
		t.Fatalf("stats %+v: want %d unknown, %d suppressed", st, n, n-256)
	}
	if got := len(rec.events); got != 256 {
		t.Fatalf("%d unknown-MAC events recorded, want 256 (one per remembered MAC)", got)
	}
	e := <-rec.events
	if e.Node != "" || e.Stage != status.StageDHCP || e.MAC == "" {
		t.Fatalf("unknown event %+v", e)
	}
	// The same MAC again within the interval: not reported; a minute later: reported.
	mac := randomMAC()
	s2, _ := New(Config{Recorder: rec})
	s2.Update(testSnapshot(snapOpts{}))
	for i := 0; i < 3; i++ {
		s2.Handle(req(dhcpv4.MessageTypeDiscover, mac).ToBytes(), Meta{LocalPort: ServerPort, Now: t0.Add(time.Duration(i) * time.Second)})
	}
	s2.Handle(req(dhcpv4.MessageTypeDiscover, mac).ToBytes(), Meta{LocalPort: ServerPort, Now: t0.Add(61 * time.Second)})
	if got := len(rec.events); got != 255+2 {
		t.Fatalf("%d events, want 2 more for one MAC seen over 61 s", got-255)
	}
	// Known nodes are still served and recorded.
	d := s.Handle(req(dhcpv4.MessageTypeDiscover, macC001).ToBytes(), Meta{LocalPort: ServerPort, Now: t0})
	if d.Reply == nil {
		t.Fatal("known node not answered after the flood")
	}
}

// TestBadInput feeds malformed datagrams: each is counted, none answered.
func TestBadInput(t *testing.T) {
	s, err := New(Config{})
	mustNoErr(t, err)
	s.Update(testSnapshot(snapOpts{dynamic: true}))
	good := req(dhcpv4.MessageTypeDiscover, macC001).ToBytes()
	hugeOpt := append([]byte{}, good[:240]...)
	hugeOpt = append(hugeOpt, 60, 255, 'P', 'X', 'E') // claims 255 bytes, has 3
	wrongCookie := append([]byte{}, good...)
	wrongCookie[236] = 0
	cases := map[string][]byte{
		"empty":         {},
		"one byte":      {1},
		"truncated 100": good[:100],
		"header only":   good[:236],
		"no end option": good[:243],
		"huge option":   hugeOpt,
		"wrong cookie":  wrongCookie,
		"all ones": func() []byte {
			b := make([]byte, 600)
			for i := range b {
				b[i] = 0xff
			}
			return b
		}(),
		"reply op code":  req(dhcpv4.MessageTypeDiscover, macC001, withOpcode(dhcpv4.OpcodeBootReply)).ToBytes(),
		"hw len too big": func() []byte { b := append([]byte{}, good...); b[2] = 200; return b }(),
	}
	for name, pkt := range cases {
		if d := s.Handle(pkt, Meta{LocalPort: ServerPort, Now: t0}); d.Reply != nil {
			t.Errorf("%s: answered %s", name, d.Reply.MessageType())
		}
	}
	if st := s.Stats(); st.Received != uint64(len(cases)) || st.Offers != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLeasesConcurrent has many clients race for the 10 free dynamic
// addresses: no address is ever ACKed to two clients.
func TestLeasesConcurrent(t *testing.T) {
	s := dynamicServer(t, t.TempDir(), nil)
	var mu sync.Mutex
	acked := map[string]string{} // addr -> mac
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				mac := randomMAC()
				m := Meta{LocalPort: ServerPort, Now: t0}
				d := s.Handle(req(dhcpv4.MessageTypeDiscover, mac).ToBytes(), m)
				if d.Reply == nil {
					continue // range full
				}
				offered := d.Reply.YourIPAddr.String()
				d = s.Handle(req(dhcpv4.MessageTypeRequest, mac, withRequested(offered), withServerID("10.99.0.1")).ToBytes(), m)
				if d.Reply == nil || d.Reply.MessageType() != dhcpv4.MessageTypeAck {
					continue
				}
				mu.Lock()
				if other, dup := acked[offered]; dup {
					t.Errorf("%s ACKed to %s and %s", offered, other, mac)
				}
				acked[offered] = mac
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(acked) != 10 {
		t.Fatalf("%d addresses ACKed, want all 10 free ones", len(acked))
	}
	if got := len(s.Leases().All()); got != 10 {
		t.Fatalf("%d leases kept, want 10", got)
	}
}
