package serve

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// gitRepo is a scratch repository for notes tests.
type gitRepo struct {
	t    *testing.T
	repo string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	e := &gitRepo{t: t, repo: t.TempDir()}
	e.git("init", "-q", "-b", "main")
	e.commit(map[string]string{"main.hcl": "# a lab\n"}, "first")
	return e
}

func (e *gitRepo) git(args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = e.repo
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files into the work tree (others stay) and commits.
func (e *gitRepo) commit(files map[string]string, msg string) string {
	e.t.Helper()
	for p, data := range files {
		p = filepath.Join(e.repo, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	e.git("add", "-A")
	e.git("commit", "-q", "-m", msg)
	return e.git("rev-parse", "HEAD")
}

// The notes writer writes a node's record when it changes in a way a
// reader cares about, on the applied commit, never the table again; after
// a commit that changes nothing served (the served snapshot renamed to it)
// status --repo still shows every node, on that commit.
func TestNotesWriterGrowsWithChanges(t *testing.T) {
	e := newGitRepo(t)
	c1 := e.git("rev-parse", "HEAD")
	store := status.NewMemory()
	nodes := []bootsvc.Node{
		{Name: "c001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.11")},
		{Name: "c002", MAC: "52:54:00:00:00:02", IP: netip.MustParseAddr("10.99.0.12")},
	}
	snap := bootsvc.NewSnapshot(bootsvc.Server{Name: "head"}, nil, nodes, c1)
	w, err := newNotesWriter(slog.New(slog.NewTextHandler(io.Discard, nil)), e.repo, "", "head", time.Hour, store,
		func() *bootsvc.Snapshot { return snap })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	applied := func(hash string) {
		w.Evaluated(reconcile.Evaluation{Commit: &gitsrc.Commit{Hash: hash}, Result: reconcile.ResultApplied})
		w.flush(ctx, false)
	}
	applied(c1)
	t0 := time.Now().UTC().Truncate(time.Second)
	for i, n := range nodes {
		store.Record(status.Event{Node: n.Name, Stage: status.StageDHCP, Addr: n.IP, Time: t0.Add(time.Duration(i) * time.Second)})
		store.Record(status.Event{Node: n.Name, Stage: status.StageRuntimeOverlay, Sent: "runtime", Addr: n.IP, Time: t0.Add(time.Duration(i)*time.Second + 10*time.Second)})
	}
	w.flush(ctx, true)
	note1 := e.git("notes", "--ref=gitboot", "show", c1)
	if strings.Count(note1, "\nnode ") != 2 || !strings.Contains(note1, "table server=head") {
		t.Fatalf("first note:\n%s", note1)
	}
	// Heartbeats write nothing.
	before := e.git("rev-parse", "refs/notes/gitboot")
	store.Record(status.Event{Node: "c001", Stage: status.StageRuntimeOverlay, Sent: "runtime", Addr: nodes[0].IP, Time: t0.Add(time.Minute)})
	w.flush(ctx, true)
	if after := e.git("rev-parse", "refs/notes/gitboot"); after != before {
		t.Errorf("a heartbeat wrote notes:\n%s", e.git("notes", "--ref=gitboot", "show", c1))
	}

	// A comment: the reconciler renames the served snapshot to it.
	c2 := e.commit(map[string]string{"README.md": "a comment\n"}, "readme")
	snap = snap.WithCommit(c2)
	applied(c2)
	w.flush(ctx, true)
	note2 := e.git("notes", "--ref=gitboot", "show", c2)
	if strings.Contains(note2, "node ") || !strings.Contains(note2, "result=applied") {
		t.Errorf("a commit that changes nothing got node records:\n%s", note2)
	}
	rep, err := notes.RepoStatus(ctx, e.repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Commit != c2 || len(rep.Nodes) != 2 || rep.Nodes[0].Stage != status.StageRuntimeOverlay {
		t.Fatalf("status --repo after a comment: commit %s (want %s), nodes %+v", rep.Commit, c2, rep.Nodes)
	}

	// c002 reboots: one record, on c2.
	store.Record(status.Event{Node: "c002", Stage: status.StageDHCP, Addr: nodes[1].IP, Time: t0.Add(2 * time.Minute)})
	w.flush(ctx, true)
	note2 = e.git("notes", "--ref=gitboot", "show", c2)
	if strings.Count(note2, "node ") != 1 || !strings.Contains(note2, "name=c002 stage=DHCP") {
		t.Errorf("a reboot of c002:\n%s", note2)
	}
	// A restarted writer reads what is there and writes nothing again.
	w2, err := newNotesWriter(slog.New(slog.NewTextHandler(io.Discard, nil)), e.repo, "", "head", time.Hour, store,
		func() *bootsvc.Snapshot { return snap })
	if err != nil {
		t.Fatal(err)
	}
	before = e.git("rev-parse", "refs/notes/gitboot")
	w2.flush(ctx, true)
	if after := e.git("rev-parse", "refs/notes/gitboot"); after != before {
		t.Errorf("a restarted writer wrote again:\n%s", e.git("notes", "--ref=gitboot", "show", c2))
	}
	out, err := exec.Command("git", "-C", e.repo, "log", "--notes=gitboot", "-2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "node server=head name=c002") {
		t.Errorf("git log --notes=gitboot: %v\n%s", err, out)
	}
}
