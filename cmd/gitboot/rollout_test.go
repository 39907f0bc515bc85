package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/rollout"
)

// fakeRolloutServer answers POST /rollout with the first of steps and each
// GET with the next one (the last one again at the end).
func fakeRolloutServer(t *testing.T, steps ...*rollout.Progress) (*httptest.Server, *[]rollout.Request) {
	var mu sync.Mutex
	var reqs []rollout.Request
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/rollout" {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodPost {
			var req rollout.Request
			json.NewDecoder(r.Body).Decode(&req)
			reqs = append(reqs, req)
		}
		p := steps[min(i, len(steps)-1)]
		i++
		json.NewEncoder(w).Encode(p)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func progressOf(state string, nodes ...rollout.NodeProgress) *rollout.Progress {
	p := &rollout.Progress{ID: "r1", Commit: "3f2a9c1b0d4e5f6a7b8c", State: state, Batch: "1", Wait: "RUNTIME_OVERLAY", Timeout: "15m0s"}
	for i, n := range nodes {
		n.Batch = i
		p.Nodes = append(p.Nodes, n)
		p.Batches = append(p.Batches, rollout.BatchProgress{Nodes: []string{n.Name}, State: rollout.BatchPending})
		switch n.State {
		case rollout.NodeDone:
			p.Done++
			p.Batches[i].State = rollout.BatchDone
		case rollout.NodeFailed:
			p.Failed++
			p.Batches[i].State = rollout.BatchFailed
		case rollout.NodeRebooting:
			p.Batches[i].State = rollout.BatchRunning
		}
	}
	return p
}

func TestRolloutCommandHalted(t *testing.T) {
	seen := time.Date(2026, 12, 7, 4, 1, 2, 0, time.UTC)
	srv, reqs := fakeRolloutServer(t,
		progressOf(rollout.StateRunning, rollout.NodeProgress{Name: "n1", State: rollout.NodePending}, rollout.NodeProgress{Name: "n2", State: rollout.NodePending}),
		progressOf(rollout.StateRunning, rollout.NodeProgress{Name: "n1", State: rollout.NodeRebooting, Stage: "KERNEL"}, rollout.NodeProgress{Name: "n2", State: rollout.NodePending}),
		func() *rollout.Progress {
			p := progressOf(rollout.StateHalted,
				rollout.NodeProgress{Name: "n1", State: rollout.NodeFailed, Stage: "IPXE", LastSeen: seen, Reason: "timed out after 15m0s: last stage IPXE"},
				rollout.NodeProgress{Name: "n2", State: rollout.NodePending})
			p.Reason = "batch 1 of 2: 1 node(s) failed, 0 allowed"
			return p
		}())
	var out, errOut bytes.Buffer
	code := runWith([]string{"rollout", "--server", srv.URL, "--batch", "1", "--max-failures", "0", "--tag", "role=compute", "--poll", "1ms", "c*"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (halted)\n%s%s", code, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"batch 1/2 running: n1", "n1 rebooting at KERNEL",
		"n1 failed at IPXE: timed out after 15m0s: last stage IPXE",
		"Rollout r1 of commit 3f2a9c1b0d4e halted",
		"Reason: batch 1 of 2: 1 node(s) failed, 0 allowed",
		"NODE  STATE   LAST STAGE  LAST SEEN             WHY",
		"n1    failed  IPXE        2026-12-07 04:01:02Z  timed out",
		"Not rebooted (left alone): n2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if len(*reqs) != 1 {
		t.Fatalf("%d POSTs", len(*reqs))
	}
	r := (*reqs)[0]
	if r.Batch != "1" || r.MaxFailures == nil || *r.MaxFailures != 0 || r.Tags["role"] != "compute" || len(r.Only) != 1 || r.Only[0] != "c*" || r.DryRun {
		t.Fatalf("request %+v", r)
	}
}

func TestRolloutCommandDryRunAndErrors(t *testing.T) {
	plan := progressOf(rollout.StatePlanned, rollout.NodeProgress{Name: "n1", State: rollout.NodePending}, rollout.NodeProgress{Name: "n2", State: rollout.NodePending})
	srv, reqs := fakeRolloutServer(t, plan)
	var out, errOut bytes.Buffer
	if code := runWith([]string{"rollout", "--server", srv.URL, "--dry-run"}, &out, &errOut); code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "(dry run): 2 node(s) in 2 batch(es)") || !strings.Contains(out.String(), "batch 2: n2") {
		t.Fatalf("dry run output:\n%s", out.String())
	}
	if r := (*reqs)[0]; !r.DryRun || r.MaxFailures != nil {
		t.Fatalf("dry run request %+v (no --max-failures: the server's default)", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--batch", "150%"}, "at most 100%"},
		{[]string{"--tag", "role"}, "expected KEY=VALUE"},
		{[]string{"--max-failures", "-2"}, "must be 0 or more"},
		{[]string{"--bmc-credentials", "/etc/bmc.hcl"}, "start gitboot serve with --bmc-credentials"},
	} {
		out.Reset()
		errOut.Reset()
		code := runWith(append([]string{"rollout", "--server", srv.URL}, tc.args...), &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	if len(*reqs) != 1 {
		t.Errorf("bad flags reached the server: %d requests", len(*reqs))
	}
}

// TestRolloutCommandHostRanges: node names and --only take host ranges,
// expanded before the request (a comma inside brackets is no separator).
func TestRolloutCommandHostRanges(t *testing.T) {
	srv, reqs := fakeRolloutServer(t, progressOf(rollout.StateCompleted))
	var out, errOut bytes.Buffer
	if code := runWith([]string{"rollout", "--server", srv.URL, "--poll", "1ms", "--only", "n[1-2,4]", "c0[1-2]"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if len(*reqs) != 1 {
		t.Fatalf("%d POSTs", len(*reqs))
	}
	if got, want := strings.Join((*reqs)[0].Only, " "), "n1 n2 n4 c01 c02"; got != want {
		t.Errorf("only = %q, want %q", got, want)
	}
	out.Reset()
	errOut.Reset()
	if code := runWith([]string{"rollout", "--server", srv.URL, "n[3-1]"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "n[3-1]") {
		t.Errorf("a backwards range: exit %d\n%s", code, errOut.String())
	}
}
