package webui

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// headless starts chromium-headless-shell (skipping when it is not
// installed) and returns its context, closed by tb's cleanup.
func headless(tb testing.TB) context.Context {
	tb.Helper()
	path, err := exec.LookPath("chromium-headless-shell")
	if err != nil {
		tb.Skip("chromium-headless-shell is not installed (Debian package chromium-headless-shell)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		tb.Fatalf("starting the browser: %v", err)
	}
	return bctx
}

// TestPageScript drives the page's script in a headless browser against a
// loopback server, on 250 nodes (three <tbody> chunks of 100, 100 and 50
// rows): the filter hides rows and the chunks left empty and sizes the
// others' placeholders; sorting deals the rows out to the chunks keeping
// their sizes; a node's update reaches its row (wherever sorting put it,
// and through the filter) without a reload, and moves it when the table is
// sorted by what changed.
func TestPageScript(t *testing.T) {
	bctx := headless(t)
	snap := testSnapshot(250)
	store := status.NewMemory()
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }, MinInterval: 50 * time.Millisecond})
	base := serveUI(t, ui, snap, store)
	bctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelT()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	pg := scriptPage{t: t, ctx: bctx}
	pg.waitFor("live", `document.querySelector("#live.on")`)
	pg.eval(`window.gitbootNoReload = "1"`)
	if got, want := pg.eval(chunkState), "250 nodes | 100:100:n00001-n00100: | 100:100:n00101-n00200: | 50:50:n00201-n00250:auto 1200px"; got != want {
		t.Errorf("at load:\n got  %s\n want %s", got, want)
	}
	pg.setFilter("25")
	if got, want := pg.eval(chunkState), "4 of 250 shown | 100:1:n00025-n00025:24px | 100:1:n00125-n00125:24px | 50:2:n00225-n00250:48px"; got != want {
		t.Errorf("filter 25:\n got  %s\n want %s", got, want)
	}
	pg.setFilter("N002")
	if got, want := pg.eval(chunkState), "51 of 250 shown | hidden | 100:1:n00200-n00200:24px | 50:50:n00201-n00250:1200px"; got != want {
		t.Errorf("filter N002:\n got  %s\n want %s", got, want)
	}
	pg.setFilter("")
	if got, want := pg.eval(chunkState), "250 nodes | 100:100:n00001-n00100:2400px | 100:100:n00101-n00200:2400px | 50:50:n00201-n00250:1200px"; got != want {
		t.Errorf("filter cleared:\n got  %s\n want %s", got, want)
	}
	// NODENAME twice: descending.
	pg.eval(`(function () { var th = document.querySelector('#nodes th[data-col="0"]'); th.click(); th.click(); return th.className; })()`)
	if got, want := pg.eval(chunkState), "250 nodes | 100:100:n00250-n00151:2400px | 100:100:n00150-n00051:2400px | 50:50:n00050-n00001:1200px"; got != want {
		t.Errorf("sorted by name, descending:\n got  %s\n want %s", got, want)
	}
	// With a filter on, n00007 is denied: its row (now in the last chunk)
	// shows it and passes the filter.
	pg.setFilter("denied")
	if got := pg.eval(chunkState); got != "0 of 250 shown | hidden | hidden | hidden" {
		t.Errorf("filter denied: %s", got)
	}
	store.Record(status.Event{Node: "n00007", Stage: status.StageDenied, Sent: "forbidden.img"})
	pg.waitFor("n00007 denied", `document.querySelector("#n-n00007 .st").textContent === "DENIED"`)
	if got, want := pg.eval(chunkState), "1 of 250 shown | hidden | hidden | 50:1:n00007-n00007:24px"; got != want {
		t.Errorf("after n00007's update:\n got  %s\n want %s", got, want)
	}
	// Sorted by STAGE, a row whose stage changes moves: n00200 joins
	// n00007 at the end, after it in the order they had.
	pg.eval(`(function () { document.querySelector('#nodes th[data-col="1"]').click(); return ""; })()`)
	store.Record(status.Event{Node: "n00200", Stage: status.StageDenied})
	pg.waitFor("n00200 denied", `document.querySelector("#n-n00200 .st").textContent === "DENIED"`)
	if got, want := pg.eval(chunkState), "2 of 250 shown | hidden | hidden | 50:2:n00200-n00007:48px"; got != want {
		t.Errorf("sorted by stage, after n00200's update:\n got  %s\n want %s", got, want)
	}
	if got := pg.eval(`document.querySelector("#n-n00007").cells[2].textContent + " " + document.querySelector("#n-n00007 .st").className + " " + window.gitbootNoReload`); got != "forbidden.img st s-err 1" {
		t.Errorf("n00007's row: %s", got)
	}
}

// chunkState is the count shown, then per chunk its rows shown (first and last
// name), or "hidden", and its placeholder height.
const chunkState = `(function () {
  var out = [document.getElementById("shown").textContent];
  document.querySelectorAll("#nodes tbody").forEach(function (c) {
    if (c.hidden) { out.push("hidden"); return; }
    var rows = Array.prototype.filter.call(c.rows, function (r) { return !r.hidden; });
    out.push(c.rows.length + ":" + rows.length + ":" + rows[0].id.slice(2) + "-" + rows[rows.length - 1].id.slice(2) + ":" + c.style.containIntrinsicSize);
  });
  return out.join(" | ");
})()`

// scriptPage is the headless browser's tab of TestPageScript.
type scriptPage struct {
	t   *testing.T
	ctx context.Context
}

// eval evaluates the JavaScript expression expr, which gives a string.
func (p scriptPage) eval(expr string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// waitFor polls expr until it is true, for at most 30 s; what names it in
// the failure.
func (p scriptPage) waitFor(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("never %s (%v); state %s", what, err, p.eval(chunkState))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setFilter types q into the filter box.
func (p scriptPage) setFilter(q string) {
	p.eval(`(function () { var f = document.getElementById("filter"); f.value = "` + q + `"; f.dispatchEvent(new Event("input")); return ""; })()`)
}
