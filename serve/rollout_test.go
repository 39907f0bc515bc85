package serve

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
	"github.com/gitboot/gitboot/rollout"
)

const rolloutHCL = `
server "head" {
  address = "10.99.0.1"
  rollout {
    batch = "1"
    auto  = true
  }
}
network "cluster" {
  subnet = "10.99.0.0/24"
}
image "demo" {
  source = "/images/demo"
}
node "n1" {
  mac     = "52:54:00:99:00:01"
  ip      = "10.99.0.11"
  image   = image.demo
  network = network.cluster
  bmc {
    driver      = "ipmi"
    address     = "10.98.0.1"
    credentials = "rack"
  }
}
node "n2" {
  mac     = "52:54:00:99:00:02"
  ip      = "10.99.0.12"
  image   = image.demo
  network = network.cluster
  tags    = { slot = "2" }
  bmc {
    driver      = "ipmi"
    address     = "10.98.0.2"
    credentials = "rack"
  }
}
`

// svcSite is a rollout service on an in-memory status store whose "BMCs"
// make a power cycled node boot the served snapshot at once, unless the
// node is held (it then never comes back).
type svcSite struct {
	t     *testing.T
	rs    *rolloutService
	store *status.Store
	mu    sync.Mutex
	snap  *bootsvc.Snapshot
	held  map[string]bool
	recs  map[string][]notes.Record // commit -> records
	order []string                  // commit:node of each power cycle
}

func hexCommit(c byte) string { return strings.Repeat(string(c), 40) }

// snapshotFor is the lab's two nodes served from commit, their kernel's
// digest naming the commit.
func snapshotFor(commit string) *bootsvc.Snapshot {
	var nodes []bootsvc.Node
	for i, n := range []string{"n1", "n2"} {
		nodes = append(nodes, bootsvc.Node{Name: n, MAC: "52:54:00:99:00:0" + string(rune('1'+i)), IP: netip.AddrFrom4([4]byte{10, 99, 0, byte(11 + i)}),
			Network: "cluster", Artifacts: bootsvc.Artifacts{Kernel: bootsvc.Artifact{Digest: "sha256:k-" + commit[:1], Path: "/k"}},
			Tags: map[string]string{"slot": string(rune('1' + i))}})
	}
	return bootsvc.NewSnapshot(bootsvc.Server{Name: "head"}, nil, nodes, commit)
}

func newSvcSite(t *testing.T) *svcSite {
	cluster, diags := hclspec.Load(fstest.MapFS{"main.hcl": &fstest.MapFile{Data: []byte(rolloutHCL)}}, hclspec.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	srv, _ := cluster.Server("head")
	creds := filepath.Join(t.TempDir(), "bmc.hcl")
	os.WriteFile(creds, []byte("credentials \"rack\" {\n  username = \"admin\"\n  password = \"secret\"\n}\n"), 0o600)
	s := &svcSite{t: t, store: status.NewMemory(), held: map[string]bool{}, recs: map[string][]notes.Record{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.rs = newRolloutService(&rolloutService{log: log, creds: creds, store: s.store,
		snapshot: func() *bootsvc.Snapshot { s.mu.Lock(); defer s.mu.Unlock(); return s.snap },
		loadFn:   func(context.Context, string) (*hclspec.Cluster, *hclspec.Server, error) { return cluster, srv, nil },
		powerFn: func(targets []power.Target) rollout.Power {
			for _, tg := range targets {
				if tg.Cred.Username != "admin" || tg.BMC.Address == "" {
					t.Errorf("target %+v", tg)
				}
			}
			return s
		},
		record: func(commit string, r notes.Record) {
			s.mu.Lock()
			s.recs[commit] = append(s.recs[commit], r)
			s.mu.Unlock()
		},
	}, t.TempDir())
	return s
}

// boot records a boot of node from commit's snapshot.
func (s *svcSite) boot(node, commit string) {
	for _, st := range status.BootStages {
		ev := status.Event{Node: node, Stage: st}
		if st == status.StageKernel {
			ev.Digest, ev.Commit = "sha256:k-"+commit[:1], commit
		}
		s.store.Record(ev)
	}
}

func (s *svcSite) Status(_ context.Context, nodes []string) []rollout.PowerResult {
	out := make([]rollout.PowerResult, len(nodes))
	for i, n := range nodes {
		out[i] = rollout.PowerResult{Node: n, Power: "on"}
	}
	return out
}

func (s *svcSite) Cycle(_ context.Context, nodes []string) []rollout.PowerResult {
	s.mu.Lock()
	commit := s.snap.Commit
	var back []string
	for _, n := range nodes {
		s.order = append(s.order, commit[:1]+":"+n)
		if !s.held[n] {
			back = append(back, n)
		}
	}
	s.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // the boot starts after the power cycle
	for _, n := range back {
		s.boot(n, commit)
	}
	return s.Status(context.Background(), nodes)
}

func (s *svcSite) apply(commit string, needsReboot ...string) {
	s.mu.Lock()
	s.snap = snapshotFor(commit)
	s.mu.Unlock()
	s.rs.Evaluated(reconcile.Evaluation{Commit: &gitsrc.Commit{Hash: commit}, Result: reconcile.ResultApplied,
		Plan: &reconcile.Plan{NeedsReboot: needsReboot}})
}

func (s *svcSite) waitFor(what string, ok func(p *rollout.Progress) bool) *rollout.Progress {
	s.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		p := s.rs.mgr.Current()
		if p != nil && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s: %+v", what, p)
		}
	}
}

func (s *svcSite) events(commit string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs[commit] {
		out = append(out, r.Get("event")+":"+r.Get("name")+r.Get("result"))
	}
	return out
}

// TestRolloutServiceAuto: with rollout { auto = true }, an applied commit
// that changed the nodes' kernel starts a rollout by itself, one node a
// batch; a newer commit applied while a node is still down supersedes it,
// and a rollout of the newer commit reboots what still needs it.
func TestRolloutServiceAuto(t *testing.T) {
	s := newSvcSite(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.rs.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	a, b, c := hexCommit('a'), hexCommit('b'), hexCommit('c')
	s.mu.Lock()
	s.snap = snapshotFor(a)
	s.mu.Unlock()
	s.boot("n1", a)
	s.boot("n2", a)
	// Nothing needs a reboot: a dry run plans nothing.
	if p, err := s.rs.mgr.Start(ctx, rollout.Request{DryRun: true}); err != nil || len(p.Nodes) != 0 {
		t.Fatalf("dry run on A: %v %+v", err, p)
	}

	s.apply(b)
	p := s.waitFor("completed rollout of B", func(p *rollout.Progress) bool { return p.Commit == b && p.State == rollout.StateCompleted })
	if p.Done != 2 || p.Batch != "1" || len(p.Batches) != 2 {
		t.Fatalf("rollout of B: %+v", p)
	}
	if want := []string{"b:n1", "b:n2"}; !slices.Equal(s.order, want) {
		t.Fatalf("power cycles %v, want %v", s.order, want)
	}
	if ev := s.events(b); !slices.Equal(ev, []string{"started:", "batch:", "node:n1done", "batch:", "node:n2done", "result:completed"}) {
		t.Fatalf("records of B: %v", ev)
	}

	// C changes the kernel again; n1 is held down: the rollout of C waits.
	s.mu.Lock()
	s.held["n1"] = true
	s.mu.Unlock()
	s.apply(c)
	s.waitFor("rollout of C rebooting n1", func(p *rollout.Progress) bool {
		return p.Commit == c && slices.Equal(p.Rebooting(), []string{"n1"})
	})
	// D comes while n1 is down: C is superseded, D rolls out both.
	d := hexCommit('d')
	s.mu.Lock()
	s.held["n1"] = false
	s.mu.Unlock()
	s.apply(d)
	p = s.waitFor("completed rollout of D", func(p *rollout.Progress) bool { return p.Commit == d && p.State == rollout.StateCompleted })
	if p.Done != 2 {
		t.Fatalf("rollout of D: %+v", p)
	}
	if ev := s.events(c); !slices.Contains(ev, "result:superseded") || slices.Contains(ev, "node:n2done") {
		t.Fatalf("records of C: %v", ev)
	}
	if want := []string{"b:n1", "b:n2", "c:n1", "d:n1", "d:n2"}; !slices.Equal(s.order, want) {
		t.Fatalf("power cycles %v, want %v", s.order, want)
	}
}

// TestRolloutServiceSelection: what needs a reboot (digests, or an
// applied plan's mark until the node boots again), --only and --tag, and a
// node without credentials refused by name.
func TestRolloutServiceSelection(t *testing.T) {
	s := newSvcSite(t)
	a := hexCommit('a')
	s.mu.Lock()
	s.snap = snapshotFor(a)
	s.mu.Unlock()
	s.boot("n1", a)
	s.boot("n2", a)
	names := func(req rollout.Request) []string {
		t.Helper()
		cfg, err := s.rs.prepare(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Nodes
	}
	if got := names(rollout.Request{}); len(got) != 0 {
		t.Fatalf("nothing changed, yet %v", got)
	}
	// Same artifacts, but the plan said both need a reboot (kernel_args).
	time.Sleep(2 * time.Millisecond)
	s.rs.marks.mark([]string{"n1", "n2"}, time.Now())
	if got := names(rollout.Request{}); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("marked: %v", got)
	}
	if got := names(rollout.Request{Only: []string{"n*"}, Tags: map[string]string{"slot": "2"}}); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("--only n* --tag slot=2: %v", got)
	}
	time.Sleep(2 * time.Millisecond)
	s.boot("n1", a) // n1 rebooted since the mark
	if got := names(rollout.Request{}); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("n1 rebooted: %v", got)
	}
	cfg, err := s.rs.prepare(context.Background(), rollout.Request{Batch: "50%", Timeout: "3m", Wait: "kernel"})
	if err != nil || cfg.Batch.String() != "50%" || cfg.Timeout != 3*time.Minute || cfg.Wait != status.StageKernel {
		t.Fatalf("request settings: %v %+v", err, cfg)
	}
	for _, tc := range []struct {
		req  rollout.Request
		want string
	}{
		{rollout.Request{Wait: "BOOTED"}, `wait stage "BOOTED"`},
		{rollout.Request{Timeout: "soon"}, `timeout "soon"`},
		{rollout.Request{Batch: "0"}, `batch "0"`},
	} {
		if _, err := s.rs.prepare(context.Background(), tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
	os.WriteFile(s.rs.creds, []byte("credentials \"other\" {\n  username = \"a\"\n  password = \"b\"\n}\n"), 0o600)
	s.rs.powerFn = func(targets []power.Target) rollout.Power {
		for _, tg := range targets {
			if tg.Err == nil {
				t.Errorf("%s: no error for missing credentials", tg.Node)
			}
		}
		return rollout.BMCs(targets, power.Options{})
	}
	cfg, err = s.rs.prepare(context.Background(), rollout.Request{})
	if err != nil {
		t.Fatal(err)
	}
	res := cfg.Power.Status(context.Background(), cfg.Nodes)
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "rack") {
		t.Fatalf("missing credentials: %+v", res)
	}
}
