package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
)

// incrFiles is cacheHCL's cluster with an overlay only g002 uses (a file
// and a template), so a change to it reaches one node.
func incrFiles() map[string]string {
	return map[string]string{
		"main.hcl": cacheHCL + `
overlay "spare" {
  source = "overlays/spare"
}
`,
		"nodes.hcl": strings.Replace(cacheNodes, "node \"g002\" {\n  mac      = \"52:54:00:00:01:02\"\n  ip       = \"10.99.0.22\"\n  profiles = [profile.gpu]\n",
			"node \"g002\" {\n  mac      = \"52:54:00:00:01:02\"\n  ip       = \"10.99.0.22\"\n  profiles = [profile.gpu]\n  runtime_overlays = [overlay.generic, overlay.spare]\n", 1),
		"serials/g001":                   "SN-1\n",
		"overlays/generic/etc/motd":      "welcome\n",
		"overlays/spare/etc/spare":       "spare\n",
		"overlays/spare/etc/role.tmpl":   "role={{ .Node.Name }}\n",
		"overlays/spare/etc/site.tmpl":   "site=lab\n",
		"overlays/spare/etc/unused.conf": "x\n",
	}
}

// planOnState plans the tip as `gitboot plan --state` does (the evaluation
// cache read from the state directory, the overlays checked against the
// applied images for the nodes whose inputs changed).
func planOnState(t *testing.T, e *recEnv) (*Plan, error) {
	t.Helper()
	running, data := e.rec.Running()
	return PlanCommitState(e.state, e.repo.source(), "main", e.vars, "", nil, running, data)
}

// A one-node plan checks one node's overlays and takes the others from the
// running state, yet every kind of change to a node's inputs still plans
// exactly the nodes it reaches: an overlay file and a template only one
// node uses, a file() input, the node's block; a comment plans nothing; and
// a change that the image cannot take is refused even when it is the only
// change among unchanged nodes.
func TestPlanOnStateReplansExactlyWhatChanged(t *testing.T) {
	e := newRecEnv(t)
	files := incrFiles()
	if strings.Count(files["nodes.hcl"], "overlay.spare") != 1 {
		t.Fatal("g002 does not use overlay spare")
	}
	e.mustApply(e.repo.commit(files, "first"))
	steps := []struct {
		name, path, old, new string
		want                 []string // the nodes that change
	}{
		{"an overlay file one node uses", "overlays/spare/etc/spare", "spare", "spare2", []string{"g002"}},
		{"a template one node uses", "overlays/spare/etc/role.tmpl", "role=", "the role=", []string{"g002"}},
		{"a template that reads nothing", "overlays/spare/etc/site.tmpl", "site=lab", "site=hq", []string{"g002"}},
		{"a comment", "nodes.hcl", `node "c002" {`, "# spare\nnode \"c002\" {", nil},
		{"a file() input", "serials/g001", "SN-1", "SN-2", []string{"g001"}},
		{"one node's block", "nodes.hcl", `"10.99.0.12"`, `"10.99.0.42"`, []string{"c002"}},
		{"an overlay everyone uses", "overlays/generic/etc/motd", "welcome", "hello", []string{"c001", "c002", "c003", "g001", "g002"}},
	}
	for _, st := range steps {
		files = edit(t, files, st.path, st.old, st.new)
		commit := e.repo.commit(files, st.name)
		p, err := planOnState(t, e)
		if err != nil {
			t.Fatalf("%s: plan: %v", st.name, err)
		}
		if got := changedNodes(p); !slices.Equal(got, st.want) {
			t.Errorf("%s: plan changes nodes %v, want %v", st.name, got, st.want)
		}
		if st.want != nil {
			e.mustApply(commit)
		}
	}
	// A directory over the image's /sbin/init in the overlay of one node:
	// the only node whose inputs changed, and the plan refuses it.
	e.repo.commit(with(files, "overlays/spare/sbin/init/x", "x\n"), "a directory over /sbin/init")
	_, err := planOnState(t, e)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Diags) == 0 || !strings.Contains(ce.Diags[0].Detail, "/sbin/init") {
		t.Fatalf("an overlay path the image cannot take, one node changed: %v, want a *ConfigError naming /sbin/init", err)
	}
}

// A damaged or truncated evaluation cache file is no cache: the plan
// evaluates every node block (never a wrong plan) and writes the cache
// again, which the next load uses whole.
func TestPlanOnStateDamagedEvalCache(t *testing.T) {
	e := newRecEnv(t)
	files := incrFiles()
	e.mustApply(e.repo.commit(files, "first"))
	cacheFile := filepath.Join(e.state, EvalCacheFile)
	if _, err := planOnState(t, e); err != nil { // writes the cache file
		t.Fatal(err)
	}
	good, err := os.ReadFile(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	damages := []struct {
		name string
		data []byte
		ip   string // c003's address in the commit planned
	}{
		{"truncated", good[:len(good)*2/3], "10.99.0.51"},
		// c002's MAC in the cache: a wrong plan if it were used.
		{"a byte changed", []byte(strings.Replace(string(good), "52:54:00:00:00:02", "52:54:00:00:00:99", 1)), "10.99.0.52"},
	}
	if string(damages[1].data) == string(good) {
		t.Fatal("the cache file does not hold c002's MAC")
	}
	ip := "10.99.0.13"
	for _, d := range damages {
		name := d.name
		if err := os.WriteFile(cacheFile, d.data, 0o600); err != nil {
			t.Fatal(err)
		}
		files = edit(t, files, "nodes.hcl", `"`+ip+`"`, `"`+d.ip+`"`)
		ip = d.ip
		commit := e.repo.commit(files, "c003 moves")
		p, err := planOnState(t, e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := changedNodes(p); !slices.Equal(got, []string{"c003"}) {
			t.Errorf("%s cache: plan changes nodes %v, want [c003]", name, got)
		}
		src, err := e.repo.source().Resolve(commit)
		if err != nil {
			t.Fatal(err)
		}
		c := hclspec.OpenEvalCache(cacheFile)
		if _, diags := hclspec.Load(src.FS, hclspec.Options{Vars: e.vars, Cache: c}); diags.HasErrors() {
			t.Fatal(diags)
		}
		if s := c.Stats(); s.Hits != 5 || s.Misses != 0 {
			t.Errorf("%s cache: the plan did not write it again (next load %+v, want 5 hits)", name, s)
		}
		e.mustApply(commit)
	}
}

// An apply in the process that made the plan takes the commit as the plan
// loaded it, only when loading it again would give the same: the same
// commit, variables and server block; what it applies is what a whole
// evaluation of the commit plans as no change.
func TestApplyPlanReusesItsLoad(t *testing.T) {
	e := newRecEnv(t)
	files := incrFiles()
	e.mustApply(e.repo.commit(files, "first"))
	files = edit(t, files, "nodes.hcl", `"10.99.0.12"`, `"10.99.0.42"`)
	hash := e.repo.commit(files, "c002 moves")
	p, err := planOnState(t, e)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := e.repo.source().Resolve(hash)
	if err != nil {
		t.Fatal(err)
	}
	if p.loaded == nil || !e.rec.reuseLoaded(commit, p.loaded) {
		t.Fatalf("the plan's load is not reused: %+v", p.loaded)
	}
	for name, change := range map[string]func(l *loadedCommit){
		"another commit":   func(l *loadedCommit) { l.commit = strings.Repeat("0", 40) },
		"other variables":  func(l *loadedCommit) { l.vars = map[string]string{"image": "/elsewhere"} },
		"another server":   func(l *loadedCommit) { cp := *l.srv; l.srv = &cp },
		"no server picked": func(l *loadedCommit) { l.srv = nil },
	} {
		l := *p.loaded
		change(&l)
		if e.rec.reuseLoaded(commit, &l) {
			t.Errorf("%s: reused", name)
		}
	}
	before := e.rec.cacheLoads.Load() // the first apply's load
	ev, err := e.rec.ApplyPlan(context.Background(), p)
	if err != nil || ev.Result != ResultApplied {
		t.Fatalf("apply: %q %v", ev.Result, err)
	}
	if n := e.rec.cacheLoads.Load() - before; n != 0 {
		t.Errorf("the apply loaded the commit again (%d loads)", n)
	}
	running, data := e.rec.Running()
	if running.Nodes["c002"].IP != "10.99.0.42" {
		t.Errorf("c002 runs %+v", running.Nodes["c002"])
	}
	whole, err := PlanCommit(e.repo.source(), "main", e.vars, "", nil, running, data)
	if err != nil || whole.HasChanges() {
		t.Errorf("a whole evaluation of the applied commit: %v, changes %v", err, changedNodes(whole))
	}
	// A plan read back from its file carries no load: the apply loads.
	saved, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodePlan(saved, "plan.json")
	if err != nil || back.loaded != nil {
		t.Errorf("a saved plan: %v, loaded %v", err, back.loaded != nil)
	}
}

// The first apply plans before the state directory exists, so its plan
// cannot write the evaluation cache: the apply that takes the plan's load
// writes it, and the next plan finds every node block there.
func TestApplyPlanKeepsThePlansCache(t *testing.T) {
	e := newRecEnv(t)
	files := incrFiles()
	e.mustApply(e.repo.commit(files, "first"))
	cacheFile := filepath.Join(e.state, EvalCacheFile)
	files = edit(t, files, "nodes.hcl", `"10.99.0.12"`, `"10.99.0.42"`)
	hash := e.repo.commit(files, "c002 moves")
	// The plan cannot write the cache (a directory is in the way, as the
	// missing state directory is at the first apply).
	if err := os.Remove(cacheFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cacheFile, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := planOnState(t, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cacheFile); err != nil {
		t.Fatal(err)
	}
	rec := e.newReconciler() // apply's: its cache not opened yet
	if _, err := rec.Restore(); err != nil {
		t.Fatal(err)
	}
	if ev, err := rec.ApplyPlan(context.Background(), p); err != nil || ev.Result != ResultApplied {
		t.Fatalf("apply: %q %v", ev.Result, err)
	}
	src, err := e.repo.source().Resolve(hash)
	if err != nil {
		t.Fatal(err)
	}
	c := hclspec.OpenEvalCache(cacheFile)
	if _, diags := hclspec.Load(src.FS, hclspec.Options{Vars: e.vars, Cache: c}); diags.HasErrors() {
		t.Fatal(diags)
	}
	if s := c.Stats(); s.Hits != 5 {
		t.Errorf("after the apply, the cache holds %+v of 5 node blocks", s)
	}
}

// An apply in the plan's process takes the node keys the plan computed
// but examines the images again: an image rebuilt between the plan and
// the apply makes the plan stale, as a whole evaluation would.
func TestApplyPlanReexaminesImages(t *testing.T) {
	e := newRecEnv(t)
	files := incrFiles()
	e.mustApply(e.repo.commit(files, "first"))
	files = edit(t, files, "nodes.hcl", `"10.99.0.12"`, `"10.99.0.42"`)
	e.repo.commit(files, "c002 moves")
	p, err := planOnState(t, e)
	if err != nil {
		t.Fatal(err)
	}
	if p.loaded == nil || p.loaded.inputs == nil {
		t.Fatalf("the plan kept no input keys: %+v", p.loaded)
	}
	writeFile(t, filepath.Join(e.image, "boot/vmlinuz-1"), "a kernel rebuilt after the plan\n")
	ev, err := e.rec.ApplyPlan(context.Background(), p)
	var se *StaleError
	if !errors.As(err, &se) || ev.Result == ResultApplied {
		t.Fatalf("apply after the image changed: %q %v; want a *StaleError", ev.Result, err)
	}
	// Planned again, it applies; what runs is what a whole evaluation
	// plans as no change.
	if p, err = planOnState(t, e); err != nil {
		t.Fatal(err)
	}
	if ev, err := e.rec.ApplyPlan(context.Background(), p); err != nil || ev.Result != ResultApplied {
		t.Fatalf("fresh plan: %q %v", ev.Result, err)
	}
	running, data := e.rec.Running()
	whole, err := PlanCommit(e.repo.source(), "main", e.vars, "", nil, running, data)
	if err != nil || whole.HasChanges() {
		t.Errorf("a whole evaluation of the applied commit: %v, changes %v", err, changedNodes(whole))
	}
}
