package client

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// watchServer runs a real httpboot admin listener on a loopback port
// with two declared nodes, both seen; it returns its URL.
func watchServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("127.0.0.1"), HTTPPort: ln.Addr().(*net.TCPAddr).Port, RuntimeInterval: time.Minute}
	nodes := []bootsvc.Node{
		{Name: "c001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.11")},
		{Name: "c002", MAC: "52:54:00:00:00:02", IP: netip.MustParseAddr("10.99.0.12")},
	}
	store := status.NewMemory()
	store.Record(status.Event{Node: "c001", Stage: status.StageKernel, Sent: "vmlinuz", Time: time.Now().Add(-time.Minute)})
	store.Record(status.Event{Node: "c002", Stage: status.StageKernel, Sent: "vmlinuz", Time: time.Now().Add(-time.Minute)})
	h := httpboot.New(httpboot.Config{Snapshot: bootsvc.NewSnapshot(srv, nil, nodes, "c0ffee"), Status: store})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeAdmin(ctx, ln, "") }()
	t.Cleanup(func() { cancel(); <-done })
	return srv.HTTPBase()
}

// frames counts watch frames and ends the watch after two.
type frames struct {
	mu     sync.Mutex
	b      bytes.Buffer
	n      int
	cancel func()
}

func (f *frames) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if bytes.HasPrefix(p, []byte("Every 1s")) {
		f.n++
		if f.n == 3 {
			f.cancel()
		}
	}
	return f.b.Write(p)
}

func TestStatusWatch(t *testing.T) {
	url := watchServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := &frames{cancel: cancel}
	o := &StatusView{Server: url}
	if err := o.WatchLoop(ctx, f, f, []string{"c001"}); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatal("watch never drew three frames")
	}
	if n := strings.Count(f.b.String(), "c001 "); n < 2 {
		t.Fatalf("c001 in %d frames:\n%s", n, f.b.String())
	}
	if strings.Contains(f.b.String(), "c002") {
		t.Fatal("filter ignored in --watch")
	}
}
