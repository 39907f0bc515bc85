package rollout

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// viewProgress is a progress of state with one node per batch.
func viewProgress(state string, nodes ...NodeProgress) *Progress {
	p := &Progress{ID: "r1", Commit: "3f2a9c1b0d4e5f6a7b8c", State: state, Batch: "1", Wait: "RUNTIME_OVERLAY", Timeout: "15m0s"}
	for i, n := range nodes {
		n.Batch = i
		p.Nodes = append(p.Nodes, n)
		p.Batches = append(p.Batches, BatchProgress{Nodes: []string{n.Name}, State: BatchPending})
		switch n.State {
		case NodeDone:
			p.Done++
			p.Batches[i].State = BatchDone
		case NodeFailed:
			p.Failed++
			p.Batches[i].State = BatchFailed
		case NodeRebooting:
			p.Batches[i].State = BatchRunning
		}
	}
	return p
}

func TestProgressViewManyBatches(t *testing.T) {
	var nodes []NodeProgress
	for i := range 40 {
		st := NodePending
		switch {
		case i < 20:
			st = NodeDone
		case i == 20:
			st = NodeRebooting
		}
		nodes = append(nodes, NodeProgress{Name: fmt.Sprintf("c%03d", i+1), State: st})
	}
	var buf bytes.Buffer
	v := NewView(&buf, true, false)
	v.Draw(viewProgress(StateRunning, nodes...))
	frame := buf.String()
	for _, want := range []string{"batches 1-18 ended", "batch 19/40", "batch 21/40", "rebooting: c021", "batch 24/40", "batches 25-40 pending", "running: 20 done"} {
		if !strings.Contains(frame, want) {
			t.Errorf("frame lacks %q:\n%s", want, frame)
		}
	}
	if n := strings.Count(frame, "\n"); n != 10 {
		t.Errorf("%d lines, want 10 (header, ended, 6 bars, pending, counts):\n%s", n, frame)
	}
	// A shorter frame clears the lines the longer one left.
	buf.Reset()
	v.Draw(viewProgress(StateCompleted, NodeProgress{Name: "c001", State: NodeDone}))
	if n := strings.Count(buf.String(), "\n"); n != 10 || !strings.HasPrefix(buf.String(), "\x1b[10A") {
		t.Errorf("redraw: %d lines %q", n, buf.String())
	}
}
