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
	root := t.TempDir()
	ran := filepath.Join(t.TempDir(), "ran")
	cmdA := `echo "A $PWD $GITBOOT_ROOT" >> ` + ran
	cmdB := `echo B >> ` + ran
	list := func(aFiles, bFiles []string, a, b string) tf {
		return overlaysJSON(t, overlayInfo{Overlay: "a", PostApply: a, Files: aFiles}, overlayInfo{Overlay: "b", PostApply: b, Files: bFiles},
			overlayInfo{Overlay: "plain", Files: []string{"etc/plain"}})
	}
	runs := func() string {
		b, _ := os.ReadFile(ran)
		os.Remove(ran)
		return string(b)
	}
	v1 := overlayOf(t, file("etc/a1", "1\n", 0o644), file("etc/a2", "1\n", 0o644), file("etc/b", "1\n", 0o644), file("etc/plain", "1\n", 0o644),
		list([]string{"etc/a1", "etc/a2"}, []string{"etc/b"}, cmdA, cmdB))
	s := newOverlayServer(t, v1, `"sha256:1"`)
	ag := testAgent(t, s.srv.URL, root, false)
	var logs syncBuffer
	ag.log = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()

	if err := ag.reconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := runs(), "A "+root+" "+root+"\nB\n"; got != want {
		t.Errorf("first apply ran %q, want %q", got, want)
	}
	if err := ag.reconcileOnce(ctx); err != nil { // 304
		t.Fatal(err)
	}
	if got := runs(); got != "" {
		t.Errorf("a 304 ran %q", got)
	}
	s.set(v1, `"sha256:1b"`) // a new ETag, the same files
	if err := ag.reconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := runs(); got != "" {
		t.Errorf("an unchanged overlay ran %q", got)
	}

	// A's file changes: A runs, B does not; plain has no command.
	v2 := overlayOf(t, file("etc/a1", "2\n", 0o644), file("etc/a2", "1\n", 0o644), file("etc/b", "1\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1", "etc/a2"}, []string{"etc/b"}, cmdA, cmdB))
	s.set(v2, `"sha256:2"`)
	if err := ag.reconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := runs(); !strings.HasPrefix(got, "A ") || strings.Contains(got, "B") {
		t.Errorf("a change of A's file ran %q, want A only", got)
	}

	// A file of A removed: A runs.
	v3 := overlayOf(t, file("etc/a1", "2\n", 0o644), file("etc/b", "1\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1"}, []string{"etc/b"}, cmdA, cmdB))
	s.set(v3, `"sha256:3"`)
	if err := ag.reconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(root, "etc/a2")) {
		t.Error("etc/a2 not removed")
	}
	if got := runs(); !strings.HasPrefix(got, "A ") || strings.Contains(got, "B") {
		t.Errorf("a removed file of A ran %q, want A only", got)
	}

	// A failing command is logged; the apply succeeds.
	v4 := overlayOf(t, file("etc/a1", "2\n", 0o644), file("etc/b", "4\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1"}, []string{"etc/b"}, cmdA, "echo broken; exit 3"))
	s.set(v4, `"sha256:4"`)
	if err := ag.reconcileOnce(ctx); err != nil {
		t.Fatalf("a failing post_apply failed the apply: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "post_apply failed") || !strings.Contains(l, "exit=3") || !strings.Contains(l, "output=broken") {
		t.Errorf("failure log:\n%s", l)
	}
	if ag.etag != `"sha256:4"` {
		t.Errorf("etag after a failing post_apply %q", ag.etag)
	}

	// --no-post-apply: nothing runs.
	ag.cfg.noPostApply = true
	s.set(overlayOf(t, file("etc/a1", "5\n", 0o644), file("etc/b", "5\n", 0o644), file("etc/plain", "2\n", 0o644),
		list([]string{"etc/a1"}, []string{"etc/b"}, cmdA, cmdB)), `"sha256:5"`)
	if err := ag.reconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := runs(); got != "" {
		t.Errorf("--no-post-apply ran %q", got)
	}
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
