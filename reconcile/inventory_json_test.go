package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/jsonstr/jsonstrtest"
)

// nodeStateFields are NodeState's fields appendNodeJSON writes (and the
// unexported one it must not); TestNodeJSONAsMarshalIndent fails when
// NodeState gains a field, so that appendNodeJSON learns it too.
var nodeStateFields = []string{"MAC", "IP", "Network", "Image", "KernelArgs", "Tags", "SystemOverlays", "RuntimeOverlays",
	"SystemInput", "RuntimeInput", "AssetKey", "LegacyAssetKeySHA256", "assetKeySum", "BMC", "Root", "RootSize", "Artifacts"}

func randomNodeState(r *rand.Rand) NodeState {
	n := NodeState{MAC: jsonstrtest.String(r), IP: jsonstrtest.String(r), Network: jsonstrtest.String(r), Image: jsonstrtest.String(r),
		KernelArgs: jsonstrtest.List(r), SystemOverlays: jsonstrtest.List(r), RuntimeOverlays: jsonstrtest.List(r),
		SystemInput: jsonstrtest.String(r), RuntimeInput: jsonstrtest.String(r), AssetKey: jsonstrtest.String(r),
		LegacyAssetKeySHA256: jsonstrtest.String(r), assetKeySum: jsonstrtest.String(r), Root: jsonstrtest.String(r), RootSize: jsonstrtest.String(r)}
	switch r.IntN(3) {
	case 0:
		n.Tags = map[string]string{}
	case 1:
		n.Tags = map[string]string{}
		for range 1 + r.IntN(4) {
			n.Tags[jsonstrtest.String(r)] = jsonstrtest.String(r)
		}
	}
	if r.IntN(2) == 0 {
		n.BMC = &hclspec.BMC{Driver: jsonstrtest.String(r), Address: jsonstrtest.String(r), Port: r.IntN(70000) - 100,
			Credentials: jsonstrtest.String(r), Insecure: r.IntN(2) == 0}
	}
	if r.IntN(2) == 0 {
		n.Artifacts = &NodeArtifacts{Kernel: jsonstrtest.String(r), Image: jsonstrtest.String(r), System: jsonstrtest.String(r), Runtime: jsonstrtest.String(r)}
	}
	return n
}

// appendNodeJSON writes what json.MarshalIndent(n, "  ", " ") writes, for
// every field set and unset, empty and nil, escaped and not.
func TestNodeJSONAsMarshalIndent(t *testing.T) {
	var got []string
	for f := range reflect.TypeFor[NodeState]().Fields() {
		got = append(got, f.Name)
	}
	if !reflect.DeepEqual(got, nodeStateFields) {
		t.Fatalf("NodeState's fields are %v, appendNodeJSON knows %v: encode the new ones there", got, nodeStateFields)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 3000 {
		n := randomNodeState(r)
		if i == 0 {
			n = NodeState{}
		}
		want, err := json.MarshalIndent(n, "  ", " ")
		if err != nil {
			t.Fatal(err)
		}
		if got := appendNodeJSON(nil, &n); !bytes.Equal(got, want) {
			t.Fatalf("node %+v:\ngot  %s\nwant %s", n, got, want)
		}
	}
}

// Encode is json.MarshalIndent(inv, "", " ") and a newline, node names
// that need escaping included.
func TestEncodeAsMarshalIndent(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	inv := &Inventory{Version: InventoryVersion, Commit: "c0ffee", Nodes: map[string]NodeState{}}
	for i := range 200 {
		inv.Nodes[fmt.Sprintf("n%03d%s", i, jsonstrtest.Odd[i%len(jsonstrtest.Odd)])] = randomNodeState(r)
	}
	want, err := json.MarshalIndent(inv, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := inv.Encode()
	if err != nil || !bytes.Equal(got, append(want, '\n')) {
		t.Errorf("Encode differs from json.MarshalIndent (%v)", err)
	}
}

func BenchmarkEncodeInventory(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	inv := &Inventory{Version: InventoryVersion, Nodes: map[string]NodeState{}}
	for i := range 10000 {
		inv.Nodes[fmt.Sprintf("n%05d", i)] = NodeState{MAC: "02:00:00:00:27:0f", IP: "10.64.41.10", Network: "cluster", Image: "compute",
			KernelArgs: []string{"quiet"}, RuntimeOverlays: []string{"generic", "hostname"}, SystemOverlays: []string{},
			SystemInput: fmt.Sprintf("%064x", r.Uint64()), RuntimeInput: fmt.Sprintf("%064x", r.Uint64()),
			Artifacts: &NodeArtifacts{Kernel: "sha256:k", Image: "sha256:i", System: fmt.Sprintf("%064x", r.Uint64()), Runtime: fmt.Sprintf("%064x", r.Uint64())}}
	}
	for b.Loop() {
		if _, err := inv.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
