package redfish

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gitboot/gitboot/internal/redfishtest"
)

// machine is a power switch in memory; the QEMU-driven service is in
// test/e2e.
type machine struct {
	mu     sync.Mutex
	on     bool
	resets int
}

func (m *machine) On() bool        { m.mu.Lock(); defer m.mu.Unlock(); return m.on }
func (m *machine) PowerOn() error  { m.mu.Lock(); defer m.mu.Unlock(); m.on = true; return nil }
func (m *machine) PowerOff() error { m.mu.Lock(); defer m.mu.Unlock(); m.on = false; return nil }
func (m *machine) Reset() error    { m.mu.Lock(); defer m.mu.Unlock(); m.resets++; return nil }

func serve(t *testing.T, allowed []string) (*redfishtest.Service, *machine, Config) {
	t.Helper()
	m := &machine{}
	s := redfishtest.New(m, "admin", "secret")
	if allowed != nil {
		s.Allowed = allowed
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go s.ServeTLS(l, "127.0.0.1")
	host, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)
	return s, m, Config{Host: host, Port: p, Username: "admin", Password: "secret", Insecure: true}
}

func TestPower(t *testing.T) {
	ctx := context.Background()
	s, m, cfg := serve(t, nil)
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(want bool) {
		t.Helper()
		on, err := c.State(ctx)
		if err != nil || on != want || m.On() != want {
			t.Fatalf("State: %v %v (machine %v), want %v", on, err, m.On(), want)
		}
	}
	check(false)
	if err := c.On(ctx); err != nil {
		t.Fatal(err)
	}
	check(true)
	if err := c.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Off(ctx); err != nil {
		t.Fatal(err)
	}
	check(false)
	if got, want := s.Resets(), []string{"On", "PowerCycle", "ForceRestart", "ForceOff"}; !slices.Equal(got, want) {
		t.Errorf("reset types posted %v, want %v", got, want)
	}
	if m.resets != 2 {
		t.Errorf("machine reset %d times, want 2", m.resets)
	}
}

func TestCycleWithoutPowerCycle(t *testing.T) {
	ctx := context.Background()
	s, _, cfg := serve(t, []string{"On", "ForceOff"})
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(ctx); err == nil || !strings.Contains(err.Error(), "does not allow ResetType ForceRestart (it allows On, ForceOff)") {
		t.Errorf("Reset where ForceRestart is not allowed: %v", err)
	}
	if got, want := s.Resets(), []string{"ForceOff", "On"}; !slices.Equal(got, want) {
		t.Errorf("cycle posted %v, want %v", got, want)
	}
}

func TestRefused(t *testing.T) {
	ctx := context.Background()
	_, _, cfg := serve(t, nil)
	bad := cfg
	bad.Password = "wrong"
	if _, err := Dial(ctx, bad); err == nil || !strings.Contains(err.Error(), "401 Unauthorized (wrong user name or password?)") {
		t.Errorf("a wrong password: %v", err)
	}
	strict := cfg
	strict.Insecure = false
	if _, err := Dial(ctx, strict); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a self-signed certificate without insecure: %v", err)
	}
}
