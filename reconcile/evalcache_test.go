package reconcile

import (
	"slices"
	"strings"
	"testing"
)

// cacheHCL is the test cluster with node blocks that depend on a profile
// (gpu), a local (rack) and a file() input (serials/g001).
const cacheHCL = `variable "image" {
  type = string
}

server "head" {
  address = "10.99.0.1"
}

network "cluster" {
  subnet  = "10.99.0.0/24"
  gateway = "10.99.0.1"
}

image "rocky" {
  source = var.image
}

overlay "generic" {
  source = "overlays/generic"
}

locals {
  rack = "r1"
}

profile "compute" {
  image            = image.rocky
  network          = network.cluster
  kernel_args      = ["quiet"]
  runtime_overlays = [overlay.generic]
}

# GPU nodes
profile "gpu" {
  profiles    = [profile.compute]
  kernel_args = ["quiet", "nouveau.modeset=0"]
}
`

const cacheNodes = `node "c001" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
}

node "c002" {
  mac      = "52:54:00:00:00:02"
  ip       = "10.99.0.12"
  profiles = [profile.compute]
}

node "c003" {
  mac      = "52:54:00:00:00:03"
  ip       = "10.99.0.13"
  profiles = [profile.compute]
  tags     = { rack = local.rack }
}

node "g001" {
  mac      = "52:54:00:00:01:01"
  ip       = "10.99.0.21"
  profiles = [profile.gpu]
  tags     = { serial = trimspace(file("serials/g001")) }
}

node "g002" {
  mac      = "52:54:00:00:01:02"
  ip       = "10.99.0.22"
  profiles = [profile.gpu]
}
`

// changedNodes lists the nodes a plan changes.
func changedNodes(p *Plan) []string {
	var out []string
	for _, rc := range p.ResourceChanges {
		if rc.Type == "node" {
			out = append(out, rc.Name)
		}
	}
	slices.Sort(out)
	return out
}

// With the evaluation cache warm (serve's, in memory, and plan's, read
// from the state directory), each change to desired state replans exactly
// the nodes it reaches, and a comment changes nothing: cached node blocks
// never hide a change.
func TestEvalCacheReplansExactlyWhatChanged(t *testing.T) {
	e := newRecEnv(t)
	files := cacheFiles()
	e.mustApply(e.repo.commit(files, "first"))
	steps := []struct {
		name, path, old, new string
		want                 []string // the nodes that change
		hits                 int      // node blocks taken from the cache (a global change: none)
	}{
		{"comment in a profile", "main.hcl", "# GPU nodes", "# GPU nodes, two of them", nil, 0},
		{"comment above a node", "nodes.hcl", `node "g002" {`, "# the spare\nnode \"g002\" {", nil, 4},
		{"the profile of some nodes", "main.hcl", `"nouveau.modeset=0"`, `"nouveau.modeset=1"`, []string{"g001", "g002"}, 0},
		{"a file() input", "serials/g001", "SN-1", "SN-2", []string{"g001"}, 4},
		{"a local one node uses", "main.hcl", `rack = "r1"`, `rack = "r2"`, []string{"c003"}, 0},
		{"one node's block", "nodes.hcl", `"10.99.0.12"`, `"10.99.0.42"`, []string{"c002"}, 4},
		{"a node block above grows", "nodes.hcl", "profiles = [profile.compute]\n}\n\nnode \"c002\"", "profiles = [profile.compute]\n  kernel_args = [\"debug\"]\n}\n\nnode \"c002\"", []string{"c001"}, 4},
	}
	for _, st := range steps {
		if strings.Count(files[st.path], st.old) != 1 {
			t.Fatalf("%s: %q occurs %d times", st.name, st.old, strings.Count(files[st.path], st.old))
		}
		files = with(files, st.path, strings.Replace(files[st.path], st.old, st.new, 1))
		commit := e.repo.commit(files, st.name)
		// plan, as `gitboot plan --state` makes it (its cache read from the
		// state directory).
		running, data := e.rec.Running()
		p, err := PlanCommitState(e.state, e.repo.source(), "main", e.vars, "", nil, running, data)
		if err != nil {
			t.Fatalf("%s: plan: %v", st.name, err)
		}
		if got := changedNodes(p); !slices.Equal(got, st.want) {
			t.Errorf("%s: plan changes nodes %v, want %v", st.name, got, st.want)
		}
		// serve's pass, its cache in memory.
		ev, err := e.once(Options{})
		if err != nil || ev.Commit.Hash != commit {
			t.Fatalf("%s: pass: %q %v", st.name, ev.Result, err)
		}
		wantResult := ResultApplied
		if st.want == nil {
			wantResult = ResultUnchanged
		}
		if ev.Result != wantResult || !slices.Equal(changedNodes(ev.Plan), st.want) {
			t.Errorf("%s: pass %q changing nodes %v, want %q %v", st.name, ev.Result, changedNodes(ev.Plan), wantResult, st.want)
		}
		if s := e.rec.evalCache.Stats(); s.Hits != st.hits || s.Hits+s.Misses != 5 {
			t.Errorf("%s: cache %+v, want %d hits of 5 node blocks", st.name, s, st.hits)
		}
	}
	// The served state is the whole evaluation's: a new reconciler with no
	// cache file plans no change.
	running, data := e.rec.Running()
	p, err := PlanCommit(e.repo.source(), "main", e.vars, "", nil, running, data)
	if err != nil || p.HasChanges() {
		t.Errorf("the whole evaluation of the last commit: %v, changes %v", err, changedNodes(p))
	}
}

// serve keeps no evaluation cache in memory once its file holds all of
// it (after a whole evaluation, which is written): the next commit reads
// it from the file and still evaluates only what changed; a cache holding
// blocks the file lacks stays in memory.
func TestEvalCacheDroppedWhenInFile(t *testing.T) {
	e := newRecEnv(t)
	files := cacheFiles()
	e.mustApply(e.repo.commit(files, "first"))
	if e.rec.evalCache != nil {
		t.Fatal("the reconciler keeps the evaluation cache its file holds")
	}
	files = with(files, "nodes.hcl", strings.Replace(files["nodes.hcl"], `"10.99.0.12"`, `"10.99.0.42"`, 1))
	ev := e.mustApply(e.repo.commit(files, "one node"))
	if got := changedNodes(ev.Plan); !slices.Equal(got, []string{"c002"}) {
		t.Errorf("changed nodes %v, want [c002]", got)
	}
	if e.rec.evalCache == nil {
		t.Fatal("a cache with a block its file lacks was dropped")
	}
	if s := e.rec.evalCache.Stats(); s.Hits != 4 || s.Misses != 1 {
		t.Errorf("the cache read back from its file: %+v, want 4 hits and 1 miss", s)
	}
}

// cacheFiles is the repository of the evaluation cache's tests.
func cacheFiles() map[string]string {
	return map[string]string{
		"main.hcl":                  cacheHCL,
		"nodes.hcl":                 cacheNodes,
		"serials/g001":              "SN-1\n",
		"overlays/generic/etc/motd": "welcome\n",
	}
}
