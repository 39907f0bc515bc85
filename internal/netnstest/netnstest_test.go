package netnstest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		n := UniqueName("longprefix")
		if len(n) > 15 {
			t.Fatalf("%q is longer than an interface name may be", n)
		}
		if seen[n] {
			t.Fatalf("%q returned twice", n)
		}
		seen[n] = true
	}
}

// TestVethAndDo connects two namespaces, serves UDP from a socket bound
// inside one with Do, and reaches it from a process run in the other.
func TestVethAndDo(t *testing.T) {
	Require(t)
	a, b := New(t, "a"), New(t, "b")
	Veth(t, a, "10.98.0.1/24", b, "10.98.0.2/24")

	var conn net.PacketConn
	if err := a.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", "10.98.0.1:5000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The address exists only inside a: binding it here must fail.
	if c, err := net.ListenPacket("udp4", "10.98.0.1:5001"); err == nil {
		c.Close()
		t.Fatal("10.98.0.1 is bindable outside the namespace: Do did not enter it")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		buf := make([]byte, 100)
		n, from, err := conn.ReadFrom(buf)
		if err == nil {
			_, _ = conn.WriteTo([]byte("pong:"+string(buf[:n])), from)
		}
	}()
	cc, err := b.Dial("udp4", "10.98.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	deadline, _ := ctx.Deadline()
	_ = cc.SetDeadline(deadline)
	if _, err := cc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := cc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "pong:ping" {
		t.Fatalf("reply %q, want pong:ping", got)
	}
	// A process started in b sees b's interfaces only.
	out, err := b.Output(ctx, "ip", "-4", "addr")
	if err != nil || !strings.Contains(string(out), "10.98.0.2/24") || strings.Contains(string(out), "10.98.0.1/24") {
		t.Fatalf("ip addr in b: %v: %s", err, out)
	}
}

// TestBridgeAttach plugs two namespaces into a bridge and pings across it.
func TestBridgeAttach(t *testing.T) {
	Require(t)
	RequireCommands(t, "busybox")
	lan, a, b := New(t, "lan"), New(t, "a"), New(t, "b")
	br := lan.Bridge(t)
	Attach(t, lan, br, a, "10.97.0.1/24")
	bIf := AttachMAC(t, lan, br, b, "52:54:00:aa:bb:cc", "10.97.0.2/24")
	tap := lan.Tap(t, br)
	if tap == "" {
		t.Fatal("no tap name")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := a.Output(ctx, "busybox", "ping", "-c", "1", "-W", "5", "10.97.0.2"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := b.Output(ctx, "ip", "link", "show", bIf)
	if err != nil || !strings.Contains(string(out), "52:54:00:aa:bb:cc") {
		t.Fatalf("MAC not set on %s: %v: %s", bIf, err, out)
	}
	_, buf := a.Start(t, "sleep", "60")
	_ = buf.String()
}

// TestListen serves TCP from a listener made inside one namespace to a
// client dialing from another.
func TestListen(t *testing.T) {
	Require(t)
	a, b := New(t, "a"), New(t, "b")
	Veth(t, a, "10.96.0.1/24", b, "10.96.0.2/24")
	l, err := a.Listen("tcp4", "10.96.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
	c, err := b.Dial("tcp4", "10.96.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 10)
	n, _ := c.Read(buf)
	if string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	if pc, err := b.ListenPacket("udp4", "10.96.0.2:0"); err != nil {
		t.Fatal(err)
	} else {
		pc.Close()
	}
}
