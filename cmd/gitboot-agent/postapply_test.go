package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// overlaysJSON is the overlays.json a server writes.
func overlaysJSON(t *testing.T, ovs ...overlayInfo) tf {
	t.Helper()
	data, err := json.Marshal(ovs)
	if err != nil {
		t.Fatal(err)
	}
	return file(overlaysName, string(data), 0o644)
}

// syncBuffer is a log sink safe for the agent's writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPostApply: an apply that changes a file of overlay A runs A's
// command (in the root, with GITBOOT_ROOT) and not B's; the same overlay
// again (304, or a new ETag with the same files) runs nothing; a file of A
// removed runs A's command; a failing command is logged and the apply
// still succeeds; --no-post-apply runs nothing.
func TestPostApply(t *testing.T) {
	f := newPostApplyFixture(t)
	root, list, cmdA, cmdB := f.root, f.list, f.cmdA, f.cmdB
	if got, want := f.runs(), "A "+root+" "+root+"\nB\n"; got != want {
		t.Errorf("first apply ran %q, want %q", got, want)
	}
	f.reconcile() // 304
	if got := f.runs(); got != "" {
		t.Errorf("a 304 ran %q", got)
	}
	f.apply(f.v1, `"sha256:1b"`) // a new ETag, the same files
	if got := f.runs(); got != "" {
		t.Errorf("an unchanged overlay ran %q", got)
	}

	// A's file changes: A runs, B does not; plain has no command.
	f.apply(overlayOf(t, file("etc/a1", "2\n", 0o644), file("etc/a2", "1\n", 0o644), file("etc/b", "1\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1", "etc/a2"}, []string{"etc/b"}, cmdA, cmdB)), `"sha256:2"`)
	if got := f.runs(); !strings.HasPrefix(got, "A ") || strings.Contains(got, "B") {
		t.Errorf("a change of A's file ran %q, want A only", got)
	}

	// A file of A removed: A runs.
	f.apply(overlayOf(t, file("etc/a1", "2\n", 0o644), file("etc/b", "1\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1"}, []string{"etc/b"}, cmdA, cmdB)), `"sha256:3"`)
	if exists(filepath.Join(root, "etc/a2")) {
		t.Error("etc/a2 not removed")
	}
	if got := f.runs(); !strings.HasPrefix(got, "A ") || strings.Contains(got, "B") {
		t.Errorf("a removed file of A ran %q, want A only", got)
	}

	// A failing command is logged; the apply succeeds.
	v4 := overlayOf(t, file("etc/a1", "2\n", 0o644), file("etc/b", "4\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1"}, []string{"etc/b"}, cmdA, "echo broken; exit 3"))
	f.s.set(v4, `"sha256:4"`)
	if err := f.ag.reconcileOnce(context.Background()); err != nil {
		t.Fatalf("a failing post_apply failed the apply: %v", err)
	}
	if l := f.logs.String(); !strings.Contains(l, "post_apply failed") || !strings.Contains(l, "exit=3") || !strings.Contains(l, "output=broken") {
		t.Errorf("failure log:\n%s", l)
	}
	if f.ag.etag != `"sha256:4"` {
		t.Errorf("etag after a failing post_apply %q", f.ag.etag)
	}

	// --no-post-apply: nothing runs.
	f.ag.cfg.noPostApply = true
	f.apply(overlayOf(t, file("etc/a1", "5\n", 0o644), file("etc/b", "5\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1"}, []string{"etc/b"}, cmdA, cmdB)), `"sha256:5"`)
	if got := f.runs(); got != "" {
		t.Errorf("--no-post-apply ran %q", got)
	}
}

// postApplyFixture is an agent (logging into logs) that has applied v1
// from the overlay server s. Overlay a's post_apply command (cmdA) writes
// "A", its working directory and GITBOOT_ROOT to the file ran, b's writes
// "B".
type postApplyFixture struct {
	t          *testing.T
	root, ran  string
	cmdA, cmdB string
	v1         []byte
	s          *overlayServer
	ag         *agent
	logs       *syncBuffer
}

// newPostApplyFixture makes the fixture and applies v1.
func newPostApplyFixture(t *testing.T) *postApplyFixture {
	f := &postApplyFixture{t: t, root: t.TempDir(), ran: filepath.Join(t.TempDir(), "ran"), logs: &syncBuffer{}}
	f.cmdA = `echo "A $PWD $GITBOOT_ROOT" >> ` + f.ran
	f.cmdB = `echo B >> ` + f.ran
	f.v1 = overlayOf(t, file("etc/a1", "1\n", 0o644), file("etc/a2", "1\n", 0o644), file("etc/b", "1\n", 0o644), file("etc/plain", "1\n", 0o644),
		f.list([]string{"etc/a1", "etc/a2"}, []string{"etc/b"}, f.cmdA, f.cmdB))
	f.s = newOverlayServer(t, f.v1, `"sha256:1"`)
	f.ag = testAgent(t, f.s.srv.URL, f.root, false)
	f.ag.log = slog.New(slog.NewTextHandler(f.logs, nil))
	f.reconcile()
	return f
}

// list is the overlay list file: a's files and command, b's, and overlay
// plain (etc/plain, no command).
func (f *postApplyFixture) list(aFiles, bFiles []string, a, b string) tf {
	return overlaysJSON(f.t, overlayInfo{Overlay: "a", PostApply: a, Files: aFiles}, overlayInfo{Overlay: "b", PostApply: b, Files: bFiles},
		overlayInfo{Overlay: "plain", Files: []string{"etc/plain"}})
}

// runs returns what the commands wrote since the last call.
func (f *postApplyFixture) runs() string {
	b, _ := os.ReadFile(f.ran)
	os.Remove(f.ran)
	return string(b)
}

// reconcile runs one agent pass, which must succeed.
func (f *postApplyFixture) reconcile() {
	f.t.Helper()
	if err := f.ag.reconcileOnce(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// apply serves archive with etag and runs one agent pass.
func (f *postApplyFixture) apply(archive []byte, etag string) {
	f.t.Helper()
	f.s.set(archive, etag)
	f.reconcile()
}

func TestLimitedBufferLines(t *testing.T) {
	var b limitedBuffer
	b.Write([]byte(strings.Repeat("line\n", 20)))
	if got := b.lines(3); got != "line\nline\nline\n…" {
		t.Errorf("lines %q", got)
	}
	var big limitedBuffer
	big.Write(bytes.Repeat([]byte("x"), 2*postApplyOutput))
	if big.buf.Len() != postApplyOutput || !strings.HasSuffix(big.lines(10), "…") {
		t.Errorf("kept %d bytes", big.buf.Len())
	}
}

// TestPostApplyRealOverlay applies a runtime overlay reconcile/artifact
// built (testdata/postapply-runtime.img.gz: overlays generic, override
// with post_apply `echo ran-override > "$GITBOOT_ROOT/../ran"`, secrets):
// its overlays.json and the state directory entry above it are accepted,
// listed once, and override's command runs.
func TestPostApplyRealOverlay(t *testing.T) {
	data, err := os.ReadFile("testdata/postapply-runtime.img.gz")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.Mkdir(root, 0o755)
	s := newOverlayServer(t, data, `"sha256:real"`)
	if err := testAgent(t, s.srv.URL, root, false).reconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := content(t, filepath.Join(base, "ran")); got != "ran-override\n" {
		t.Errorf("post_apply output %q", got)
	}
	m := newApplier(root, quietLog()).readManifest()
	n := 0
	for _, f := range m.Files {
		if f == overlaysName {
			n++
		}
	}
	if n != 1 {
		t.Errorf("manifest lists %s %d times: %v", overlaysName, n, m.Files)
	}
	if fi := lstat(t, filepath.Join(root, stateDir)); fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v", fi.Mode())
	}
}

// TestStateDirEntries: a runtime overlay may hold overlays.json (and the
// directories above it) but nothing else of the agent's state directory.
func TestStateDirEntries(t *testing.T) {
	ok := overlayOf(t, dir(".", 0o755), dir("var", 0o755), dir("var/lib", 0o755), dir(stateDir, 0o755), file(overlaysName, "[]", 0o644))
	ents, err := readOverlay(bytes.NewReader(ok))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.name)
	}
	if got := strings.Join(names, " "); got != "var var/lib "+overlaysName {
		t.Errorf("entries %q", got)
	}
	for _, bad := range [][]byte{
		overlayOf(t, file(manifestName, "{}", 0o644)),
		overlayOf(t, symlink(overlaysName, "/etc/shadow")),
		overlayOf(t, file(stateDir, "x", 0o644)),
	} {
		if _, err := readOverlay(bytes.NewReader(bad)); !isRefusal(err) {
			t.Errorf("not refused: %v", err)
		}
	}
}
