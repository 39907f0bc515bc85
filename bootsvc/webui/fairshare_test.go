package webui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all local on Linux).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// openStream opens GET /events from c and returns the response (its body
// open on 200) and the status.
func openStream(t *testing.T, ctx context.Context, c *http.Client, url string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp
}

// TestEventsFairShare, with real concurrent HTTP clients: one address
// gets at most MaxStreamsPerClient streams, the next gets 429 with
// Retry-After, other addresses still get theirs, a closed stream frees
// its slot, and the total cap (MaxStreams, then 503) stays.
func TestEventsFairShare(t *testing.T) {
	snap := testSnapshot(3)
	store := status.NewMemory()
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	base := serveUI(t, ui, snap, store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Five at once from 127.0.0.2: exactly four streams, one 429.
	a := clientFrom("127.0.0.2")
	var mu sync.Mutex
	var open []*http.Response
	codes := map[int]int{}
	var retryAfter string
	var wg sync.WaitGroup
	for range MaxStreamsPerClient + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := openStream(t, ctx, a, base+"/events")
			mu.Lock()
			defer mu.Unlock()
			codes[resp.StatusCode]++
			if resp.StatusCode == 200 {
				open = append(open, resp)
			} else {
				retryAfter = resp.Header.Get("Retry-After")
			}
		}()
	}
	wg.Wait()
	if codes[200] != MaxStreamsPerClient || codes[http.StatusTooManyRequests] != 1 {
		t.Fatalf("five streams from one address: %v, want %d × 200 and one 429", codes, MaxStreamsPerClient)
	}
	if retryAfter != fmt.Sprint(StreamRetryAfter) {
		t.Fatalf("Retry-After %q", retryAfter)
	}
	// Another address is not held up by the first.
	if resp := openStream(t, ctx, clientFrom("127.0.0.3"), base+"/events"); resp.StatusCode != 200 {
		t.Fatalf("a second address: %d", resp.StatusCode)
	} else {
		open = append(open, resp)
	}
	// A closed stream frees its slot.
	open[0].Body.Close()
	open = open[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := openStream(t, ctx, a, base+"/events")
		if resp.StatusCode == 200 {
			open = append(open, resp)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed stream's slot never came back: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Fill the total cap from further addresses: then 503.
	for i := 0; len(open) < MaxStreams; i++ {
		c := clientFrom(fmt.Sprintf("127.0.1.%d", 1+i/MaxStreamsPerClient))
		resp := openStream(t, ctx, c, base+"/events")
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %d", len(open)+1, resp.StatusCode)
		}
		open = append(open, resp)
	}
	if resp := openStream(t, ctx, clientFrom("127.0.2.1"), base+"/events"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream %d: %d, want 503", MaxStreams+1, resp.StatusCode)
	}
	for _, r := range open {
		r.Body.Close()
	}
}

// TestPageWithAdminToken drives the page in a headless browser against an
// admin listener with a token: opened without the token it is refused;
// opened once with ?token= it lands on / (the token gone from the URL),
// its cookie is invisible to scripts (HttpOnly), and the page's
// EventSource, authenticated by that cookie, brings a node's update live.
func TestPageWithAdminToken(t *testing.T) {
	bctx := headless(t)
	const token = "page-token-0123456789abcdef"
	snap := testSnapshot(3)
	store := status.NewMemory()
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }, MinInterval: 50 * time.Millisecond})
	h := httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), UI: ui})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { h.ServeAdmin(ctx, ln, token); done <- struct{}{} }()
	go func() { ui.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()
	base := "http://" + ln.Addr().String()

	bctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelT()
	eval := func(expr string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return s
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	if body := eval(`document.body.innerText`); !strings.Contains(body, "Unauthorized") {
		t.Fatalf("without the token the page shows %q", body)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?token="+token)); err != nil {
		t.Fatal(err)
	}
	if loc, cookies := eval(`location.href`), eval(`document.cookie`); loc != base+"/" || cookies != "" {
		t.Fatalf("after /?token=: at %q, cookies visible to scripts %q", loc, cookies)
	}
	waitFor := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool]("!!("+expr+")"))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("never %s (%v)", what, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("live", `document.querySelector("#live.on")`)
	name := snap.Nodes[1].Name
	store.Record(status.Event{Node: name, Stage: status.StageDenied, Sent: "forbidden.img"})
	waitFor(name+" denied over the events", `document.querySelector("#n-`+name+` .st").textContent === "DENIED"`)
}
