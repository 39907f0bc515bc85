package webui

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// BenchmarkBrowserLoad10k: a headless browser loads the page of 10,000
// nodes from a loopback server until it is usable (its script ran: the
// filter counts the rows; the event stream is open; and a frame was
// painted with the table's top rows on screen); ns/op is that time,
// renderer-cpu-ms/load the renderer's main-thread CPU time for it (the
// figure that does not depend on the machine's other load).
// Then a filter over the 10,000 rows is timed in the page: its script
// (ms-filter) and until the next frame is painted (ms-filter-frame); and
// an update of 1,000 rows over the event stream, until the rows show it
// (ms-update).
func BenchmarkBrowserLoad10k(b *testing.B) {
	bctx := headless(b)
	snap, store := storeWith10k(b)
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	base := serveUI(b, ui, snap, store)
	// Durations in the renderer's thread time: what the page costs the
	// CPU, whatever else this machine runs.
	if _, err := chromedp.Run(bctx, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, performance.Enable, performance.EnableParams{TimeDomain: performance.EnableTimeDomainThreadTicks})
	}); err != nil {
		b.Fatal(err)
	}
	p := benchPage{b: b, ctx: bctx}
	var cpu float64
	b.ResetTimer()
	for b.Loop() {
		cpu += p.load(base)
	}
	b.StopTimer()
	b.ReportMetric(1000*cpu/float64(b.N), "renderer-cpu-ms/load")
	p.filterAndUpdate(snap, store)
}

// benchPage is the headless browser's tab of BenchmarkBrowserLoad10k.
type benchPage struct {
	b   *testing.B
	ctx context.Context
}

// taskTime is the renderer's main-thread CPU time so far, in seconds.
func (p benchPage) taskTime() float64 {
	r, err := chromedp.Run(p.ctx, func(ctx context.Context, t *chromedp.Target) (performance.GetMetricsResult, error) {
		return cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
	})
	if err != nil {
		p.b.Fatal(err)
	}
	for _, m := range r.Metrics {
		if os.Getenv("GITBOOT_BENCH_METRICS") != "" && strings.HasSuffix(m.Name, "Duration") {
			p.b.Logf("%s %.3f", m.Name, m.Value)
		}
		if m.Name == "TaskDuration" {
			return m.Value
		}
	}
	p.b.Fatal("no TaskDuration metric")
	return 0
}

// wait polls the JavaScript expression expr every 5 ms until it is true.
func (p benchPage) wait(expr string) {
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			p.b.Fatal(err)
		}
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// load is one timed load of the page at base until it is usable; it
// logs the phases and returns the renderer CPU time it took, in seconds.
func (p benchPage) load(base string) float64 {
	b, bctx := p.b, p.ctx
	ready := `document.getElementById("shown").textContent === "10000 nodes" && !!document.querySelector("#live.on")`
	// The renderer's counters may start again with a new document:
	// read them on a blank one, so that the page's own cost is
	// after-before, or after alone when they started again.
	b.StopTimer()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	before := p.taskTime()
	b.StartTimer()
	t0 := time.Now()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	p.wait(`document.getElementById("shown").textContent === "10000 nodes"`)
	t2 := time.Now()
	p.wait(ready)
	t3 := time.Now()
	// A frame painted after that, with the first row in the viewport.
	top, err := chromedp.Run(bctx, chromedp.Evaluate[float64](paintedTop, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatal(err)
	}
	if top < 0 {
		b.Fatalf("the table's first row is not in the viewport (top %v) or nothing was painted", top)
	}
	nav, err := chromedp.Run(bctx, chromedp.Evaluate[string](navTiming))
	if err != nil {
		b.Fatal(err)
	}
	after := p.taskTime()
	d := after - before
	if d < 0 {
		d = after
	}
	b.Logf("load event %v, script done %v later, event stream open %v later, top rows painted %v later; renderer CPU %.0f ms; in the page (ms from navigation start): %s",
		t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3), 1000*d, nav)
	return d
}

// filterAndUpdate times, in the loaded page, a filter over the 10,000
// rows (its script, ms-filter, and until the next frame is painted,
// ms-filter-frame) and an update of 1,000 rows over the event stream until
// the rows show it (ms-update).
func (p benchPage) filterAndUpdate(snap *bootsvc.Snapshot, store *status.Store) {
	b, bctx := p.b, p.ctx
	ms, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`(function(){var f=document.getElementById("filter"),t=performance.now();f.value="n0999";f.dispatchEvent(new Event("input"));var d=performance.now()-t;f.value="";f.dispatchEvent(new Event("input"));return d})()`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms, "ms-filter")
	ms, err = chromedp.Run(bctx, chromedp.Evaluate[float64](`new Promise(function(r){var f=document.getElementById("filter"),t=performance.now();f.value="n0999";f.dispatchEvent(new Event("input"));`+
		`requestAnimationFrame(function(){setTimeout(function(){var d=performance.now()-t;f.value="";f.dispatchEvent(new Event("input"));`+
		`requestAnimationFrame(function(){setTimeout(function(){r(d)})})})})})`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms, "ms-filter-frame")
	start := time.Now()
	for i := 0; i < 1000; i++ {
		store.Record(status.Event{Node: snap.Nodes[i].Name, Stage: status.StageDenied})
	}
	p.wait(`document.querySelectorAll("#nodes .st.s-err").length === 1000`)
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-update")
}

// paintedTop waits for the next frame, then gives the viewport position of
// the table's first row (-1 when it is not in the viewport or the page has
// no first contentful paint yet).
const paintedTop = `new Promise(function (r) { requestAnimationFrame(function () { setTimeout(function () {
  var tr = document.querySelector("#nodes tbody tr"), b = tr && tr.getBoundingClientRect();
  var fcp = performance.getEntriesByType("paint").some(function (p) { return p.name === "first-contentful-paint"; });
  r(b && fcp && b.height > 0 && b.top >= 0 && b.bottom <= innerHeight ? b.top : -1);
}); }); })`

// navTiming is where the page's load went: the first and last byte of the
// response, the document parsed, the load event done.
const navTiming = `(function () {
  var n = performance.getEntriesByType("navigation")[0];
  return "first byte " + n.responseStart.toFixed(0) + ", last byte " + n.responseEnd.toFixed(0) +
    ", parsed " + n.domInteractive.toFixed(0) + ", loaded " + n.loadEventEnd.toFixed(0) + " (" + (n.transferSize >> 10) + " KiB)";
})()`
