package webui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// testSnapshot declares n nodes n00001... on 10.99.0.0/16 with a dynamic
// range, each with an asset key hash (which the page must never show).
func testSnapshot(n int) *bootsvc.Snapshot {
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("10.99.0.1"), HTTPPort: 9873, RuntimeInterval: time.Minute}
	nodes := make([]bootsvc.Node, n)
	for i := range nodes {
		nodes[i] = bootsvc.Node{Name: fmt.Sprintf("n%05d", i+1), MAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
			IP: netip.AddrFrom4([4]byte{10, 99, byte((i + 10) >> 8), byte(i + 10)}), Network: "cluster",
			AssetKeyDigest: "sha256:5ec7e75ec7e75ec7e7"}
	}
	nets := []bootsvc.Network{{Name: "cluster", Subnet: netip.MustParsePrefix("10.99.0.0/16"), Gateway: netip.MustParseAddr("10.99.0.1"),
		DynamicStart: netip.MustParseAddr("10.99.200.0"), DynamicEnd: netip.MustParseAddr("10.99.200.255")}}
	return bootsvc.NewSnapshot(srv, nets, nodes, "0123456789abcdef0123456789abcdef01234567")
}

// serveUI runs the HTTP boot service with the page on a loopback socket,
// and the page's update loop; it returns the base URL.
func serveUI(t testing.TB, ui *UI, snap *bootsvc.Snapshot, store *status.Store) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpboot.New(httpboot.Config{Snapshot: snap, Status: store, Logger: log, UI: ui})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { h.ServeAdmin(ctx, ln, ""); done <- struct{}{} }()
	go func() { ui.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestPageWithoutJavaScript: a plain GET has every node's row with its
// stage, the header, the counts, the unknown MACs with a node block, and the
// timeline of ?node=; never an asset key hash.
func TestPageWithoutJavaScript(t *testing.T) {
	snap := testSnapshot(300)
	store := status.NewMemory()
	t0 := time.Now().Add(-time.Minute)
	for i, st := range status.BootStages {
		store.Record(status.Event{Node: "n00001", Stage: st, Sent: "f" + string(st), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	store.Record(status.Event{Node: "n00002", Stage: status.StageKernel, Sent: "vmlinuz", Time: t0})
	store.Record(status.Event{MAC: "52:54:00:ee:ee:01", Stage: status.StageDHCP, Addr: netip.MustParseAddr("10.99.200.7")})
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	ui.Applied(Commit{Hash: snap.Commit, Subject: "lab cluster", Author: "Ada", When: t0})
	ui.Rejected(Commit{Hash: "fedcba9876543210", Subject: "typo"}, []Diag{{File: "nodes.hcl", Line: 12, Summary: "Reference to undeclared profile"}})
	base := serveUI(t, ui, snap, store)

	page := get(t, base+"/")
	for i := 1; i <= 300; i++ {
		if !strings.Contains(page, fmt.Sprintf(`<tr id="n-n%05d"`, i)) {
			t.Fatalf("row of n%05d missing", i)
		}
	}
	for _, want := range []string{
		`<span class="st s6">RUNTIME_OVERLAY</span>`, `<span class="st s3">KERNEL</span>`,
		"0123456789ab", "lab cluster", "fedcba987654", "nodes.hcl:12", "Reference to undeclared profile",
		"52:54:00:ee:ee:01", `node &#34;n001&#34; {`, `mac      = &#34;52:54:00:ee:ee:01&#34;`, `profiles = [profile.compute]`,
		`title="RUNTIME_OVERLAY: 1"`, `title="--: 298"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The proposed address is the first free one outside the dynamic range:
	// .1 is the server, .10 ... are the nodes.
	if !strings.Contains(page, `ip       = &#34;10.99.0.2&#34;`) {
		t.Errorf("proposed address: %s", page[strings.Index(page, "node &#34;n001"):][:200])
	}
	if strings.Contains(page, "5ec7e7") {
		t.Error("the page shows an asset key hash")
	}
	tl := get(t, base+"/?node=n00001&part=timeline")
	for _, want := range []string{"Boot timeline of <b>n00001</b>", "total 6.0 s", "SYSTEM_OVERLAY", "&#43;1.0 s"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	if tl := get(t, base+"/?node=nope&part=timeline"); !strings.Contains(tl, "no node nope is declared") {
		t.Errorf("an undeclared node: %s", tl)
	}
}

// TestUIOff: without a UI, / and /events are 404.
func TestUIOff(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpboot.New(httpboot.Config{Snapshot: testSnapshot(1), Logger: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.ServeAdmin(ctx, ln, ""); close(done) }()
	defer func() { cancel(); <-done }()
	for _, p := range []string{"/", "/events"} {
		resp, err := http.Get("http://" + ln.Addr().String() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", p, resp.StatusCode)
		}
	}
}

// readUpdates reads "update" events from an open /events stream into ch.
func readUpdates(body io.Reader, ch chan<- update) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var u update
			if json.Unmarshal([]byte(data), &u) == nil {
				ch <- u
			}
		}
	}
	close(ch)
}

// TestEventsCoalesce: a storm of 20,000 events over 1,000 nodes reaches
// a browser as a few updates (at most one per MinInterval), and the last
// rows carry each node's final stage; a rejected commit's diagnostics
// come as a header update.
func TestEventsCoalesce(t *testing.T) {
	snap := testSnapshot(1000)
	store := status.NewMemory()
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }, MinInterval: 200 * time.Millisecond})
	base := serveUI(t, ui, snap, store)
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	ch := make(chan update, 1000)
	go readUpdates(resp.Body, ch)
	time.Sleep(50 * time.Millisecond) // let the stream subscribe

	start := time.Now()
	for round, st := range []status.Stage{status.StageDHCP, status.StageIPXE, status.StageKernel, status.StageImage} {
		for k := 0; k < 5; k++ {
			for i := range snap.Nodes {
				store.Record(status.Event{Node: snap.Nodes[i].Name, Stage: st, Time: start.Add(time.Duration(round) * time.Second)})
			}
		}
	}
	storm := time.Since(start)
	final := map[string]string{}
	updates := 0
	deadline := time.After(10 * time.Second)
	for len(final) < 1000 || countStage(final, "IMAGE") < 1000 {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatal("stream closed")
			}
			updates++
			for _, row := range u.Rows {
				name := between(row, `id="n-`, `"`)
				final[name] = between(row, `<span class="st `, `</span>`)
			}
		case <-deadline:
			t.Fatalf("after %d updates, %d rows seen, %d at IMAGE", updates, len(final), countStage(final, "IMAGE"))
		}
	}
	// One update may go out at once, then at most one per 200 ms.
	if most := 2 + int(storm/(200*time.Millisecond)); updates > most {
		t.Errorf("%d updates for a %v storm; want at most %d", updates, storm, most)
	}
	ui.Rejected(Commit{Hash: "fedcba9876543210", Subject: "typo"}, []Diag{{File: "nodes.hcl", Line: 3, Summary: "bad"}})
	for {
		select {
		case u := <-ch:
			if strings.Contains(u.Header, "nodes.hcl:3") {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no header update for a rejected commit")
		}
	}
}

func countStage(m map[string]string, stage string) int {
	n := 0
	for _, v := range m {
		if strings.HasSuffix(v, ">"+stage) {
			n++
		}
	}
	return n
}

func between(s, a, b string) string {
	_, s, _ = strings.Cut(s, a)
	s, _, _ = strings.Cut(s, b)
	return s
}

// TestRowEscapes: a row written by hand escapes every value.
func TestRowEscapes(t *testing.T) {
	got := string(appendRow(nil, &rowView{Name: `a"<b>&`, Stage: "<s>", Class: `x"y`, Sent: "<script>", Seen: "--"}))
	want := `<tr id="n-a&#34;&lt;b&gt;&amp;" data-seen="0"><td><a href="?node=a%22%3Cb%3E%26#timeline">a&#34;&lt;b&gt;&amp;</a></td>` +
		`<td><span class="st x&#34;y">&lt;s&gt;</span></td><td>&lt;script&gt;</td><td>--</td></tr>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestHistogram: buckets from the first to the last non-empty one, each
// node counted once by its last complete boot.
func TestHistogram(t *testing.T) {
	t0 := time.Now()
	boot := func(total time.Duration) status.Timeline {
		return status.Timeline{At: [status.NumBootStages]time.Time{0: t0, 6: t0.Add(total)}}
	}
	recs := []status.NodeRecord{
		{Name: "a", Boot: boot(12 * time.Second)},
		{Name: "b", Boot: boot(13 * time.Second)},
		{Name: "c", Boot: status.Timeline{At: [status.NumBootStages]time.Time{0: t0}}, PrevBoot: boot(31 * time.Second)},
		{Name: "d", Boot: status.Timeline{At: [status.NumBootStages]time.Time{0: t0}}}, // never completed
	}
	h := histOf(recs)
	var got []string
	for _, b := range h.Buckets {
		got = append(got, fmt.Sprintf("%s:%d", b.Label, b.N))
	}
	if want := "10–15.0 s:2 15–20.0 s:0 20–30.0 s:0 30–45.0 s:1"; strings.Join(got, " ") != want || h.N != 3 || h.Median != "13.0 s" {
		t.Fatalf("histogram %v (n %d, median %s); want %s", got, h.N, h.Median, want)
	}
}
