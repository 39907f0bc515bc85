package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gitboot/gitboot/internal/netnstest"
)

const unknownMAC = "52:54:00:de:ad:01"

// browserIn starts chromium-headless-shell inside ns (through `ip netns
// exec`; chromedp talks to it over a pipe, which crosses the namespace) and
// returns a browser context and the console errors seen so far.
func browserIn(t *testing.T, ns *netnstest.NS) (context.Context, func() []string) {
	t.Helper()
	netnstest.RequireCommands(t, "chromium-headless-shell")
	wrapper := filepath.Join(t.TempDir(), "chromium-in-netns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s chromium-headless-shell \"$@\"\n", ns.Name)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(wrapper), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })

	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting the browser: %v", err)
	}
	var errs netnstest.SyncBuffer
	msgs := chromedp.Console(bctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				fmt.Fprintf(&errs, "%s\n", m.String())
			}
		}
	}()
	return bctx, func() []string {
		s := strings.TrimSpace(errs.String())
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
}

// waitJS waits until the JavaScript expression is true in the page.
func waitJS(t *testing.T, ctx context.Context, what, expr string, lab *servedLab) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
			t.Fatalf("the page never showed %s (%v)\npage:\n%s\nserver log:\n%s", what, err, body, lab.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rowStage(node string) string {
	return fmt.Sprintf(`(document.querySelector("#n-%s .st") || {}).textContent`, node)
}

// TestWebUI drives the status page of a real `gitboot serve` in a real
// browser: it lists the nodes; DHCP and HTTP fetches from a client
// namespace move n1's row without a reload; an unknown MAC appears with
// its node block; a bad commit on the tracked branch shows its diagnostics
// in the header; a click shows n1's boot timeline; no console errors. The
// screenshot is saved under $GITBOOT_TEST_ARTIFACTS (else the test's
// temporary directory).
func TestWebUI(t *testing.T) {
	l := startLab(t)
	ctx := context.Background()
	netnstest.RequireCommands(t, "udhcpc")

	checkPlainPage(t, l)

	bctx, consoleErrors := browserIn(t, l.srv)
	bctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(bctx, chromedp.Navigate(adminURL+"/"), chromedp.WaitVisible(chromedp.CSS("#nodes"))); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	t.Logf("page loaded in %v", time.Since(start))
	waitJS(t, bctx, "the live event stream", `document.querySelector("#live.on")`, l)
	waitJS(t, bctx, "n1 and n2 never seen", rowStage("n1")+` === "--" && `+rowStage("n2")+` === "--"`, l)
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.gitbootNoReload = 1`)); err != nil {
		t.Fatal(err)
	}

	// DHCP from the client namespace (n1's MAC): the row moves to DHCP.
	if out, err := l.cli.Output(ctx, "udhcpc", "-n", "-q", "-f", "-t", "5", "-i", l.cliIf, "-s", "/bin/true"); err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	waitJS(t, bctx, "n1 at DHCP", rowStage("n1")+` === "DHCP"`, l)
	l.cli.MustIP(t, "addr", "add", "10.99.0.11/24", "dev", l.cliIf)

	// The iPXE script and the artifacts over HTTP.
	for _, step := range []struct{ route, stage string }{
		{"ipxe", "IPXE"}, {"kernel", "KERNEL"}, {"image", "IMAGE"}, {"system", "SYSTEM_OVERLAY"}, {"runtime", "RUNTIME_OVERLAY"},
	} {
		if out, err := l.cli.Output(ctx, "curl", "-sf", "-o", "/dev/null", baseURL+"/"+step.route+"/"+n1MAC); err != nil {
			t.Fatalf("curl %s: %v %s", step.route, err, out)
		}
		waitJS(t, bctx, "n1 at "+step.stage, rowStage("n1")+` === "`+step.stage+`"`, l)
	}
	waitJS(t, bctx, "the stage bar counting n1", `document.querySelector('#counts [title="RUNTIME_OVERLAY: 1"]')`, l)

	// An unknown MAC asks for its script: it appears with a node block.
	if out, err := l.cli.Output(ctx, "curl", "-s", "-o", "/dev/null", baseURL+"/ipxe/"+unknownMAC); err != nil {
		t.Fatalf("curl unknown: %v %s", err, out)
	}
	waitJS(t, bctx, "the unknown MAC with its node block",
		`(document.getElementById("u-`+unknownMAC+`") || {}).textContent && document.querySelector("#unknown pre.hcl").textContent.indexOf('mac      = "`+unknownMAC+`"') >= 0`, l)

	// A bad commit on the tracked branch: its diagnostics in the header.
	misspellProfile(t, l.repo)
	git(t, l.repo, "commit", "-q", "-am", "n1: typo in its profile")
	waitJS(t, bctx, "the rejected commit's diagnostics",
		`document.getElementById("rejected").textContent.indexOf("nodes.hcl:") >= 0 && document.getElementById("rejected").textContent.indexOf("computer") >= 0`, l)

	// A click on n1 shows its boot timeline, without a reload.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#n-n1 a`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "n1's timeline", `document.querySelector("#timeline").textContent.indexOf("Boot timeline of n1") >= 0 && document.querySelectorAll("#timeline .steps tbody tr").length >= 6`, l)

	if marker, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.gitbootNoReload || 0`)); err != nil || marker != 1 {
		t.Errorf("the page was reloaded (marker %d, %v)", marker, err)
	}
	saveScreenshot(t, bctx)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// checkPlainPage: without JavaScript (a plain GET), the page's table is
// complete.
func checkPlainPage(t *testing.T, l *servedLab) {
	ctx := context.Background()
	page, err := l.srv.Output(ctx, "curl", "-sf", adminURL+"/")
	if err != nil {
		t.Fatalf("GET /: %v %s", err, page)
	}
	for _, want := range []string{`<tr id="n-n1"`, `<tr id="n-n2"`, "lab cluster", "no rejected commit", `<table id="nodes">`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
}

// misspellProfile makes n1 in repo's nodes.hcl name a profile that does
// not exist; the commit is the caller's.
func misspellProfile(t *testing.T, repo string) {
	t.Helper()
	nodes := filepath.Join(repo, "nodes.hcl")
	b, err := os.ReadFile(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nodes, []byte(strings.Replace(string(b), "profile.compute", "profile.computer", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// saveScreenshot saves a screenshot of the page as webui.png under
// $GITBOOT_TEST_ARTIFACTS (else the test's temporary directory).
func saveScreenshot(t *testing.T, bctx context.Context) {
	t.Helper()
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("GITBOOT_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(dir, "webui.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shotPath, len(shot))
}
