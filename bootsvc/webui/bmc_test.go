package webui

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// TestBMCShown: a node's BMC (driver and address, from the snapshot) is in
// GET /status and on the page's node panel; a node without one shows none.
func TestBMCShown(t *testing.T) {
	base := testSnapshot(2)
	nodes := append([]bootsvc.Node(nil), base.Nodes...)
	nodes[0].BMC = "ipmi 10.98.8.21:623"
	snap := bootsvc.NewSnapshot(base.Server, base.Networks, nodes, base.Commit)
	store := status.NewMemory()
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	url := serveUI(t, ui, snap, store)

	var rep status.Report
	if err := json.Unmarshal([]byte(get(t, url+"/status")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes) != 2 || rep.Nodes[0].BMC != "ipmi 10.98.8.21:623" || rep.Nodes[1].BMC != "" {
		t.Errorf("GET /status rows: %+v", rep.Nodes)
	}
	if tl := get(t, url+"/?node=n00001&part=timeline"); !strings.Contains(tl, "BMC <code>ipmi 10.98.8.21:623</code>") {
		t.Errorf("n00001's panel shows no BMC:\n%s", tl)
	}
	if tl := get(t, url+"/?node=n00002&part=timeline"); strings.Contains(tl, "BMC") {
		t.Errorf("n00002 has no BMC, its panel shows one:\n%s", tl)
	}
}
