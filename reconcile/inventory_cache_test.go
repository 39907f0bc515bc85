package reconcile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/statefile"
)

// cacheInventory has every field of a node state set on one node, and
// the values JSON reads back otherwise on others (nil and empty lists, an
// empty tag map, a zero BMC).
func cacheInventory() *Inventory {
	return &Inventory{Version: InventoryVersion, Commit: "abc", Subject: "s", CommittedAt: time.Unix(1700000000, 0).UTC(),
		AppliedAt: time.Unix(1700000100, 5).UTC(), Cluster: "h", Manifest: "sha256:00", Vars: map[string]string{"image": "/x"},
		Server:   ServerState{Name: "head", Networks: []string{"cluster"}, HTTPPort: 9873},
		Networks: map[string]NetworkState{"cluster": {Subnet: "10.0.0.0/24", DNS: []string{"10.0.0.1"}}},
		Images:   map[string]ImageState{"rocky": {Source: "/img", Input: "in", Digest: "sha256:11", Exclude: []string{}}},
		Overlays: map[string]map[string]string{"generic": {"etc/motd": "0011"}},
		Agent:    "agent",
		Nodes: map[string]NodeState{
			"full": {MAC: "52:54:00:00:00:01", IP: "10.0.0.11", Network: "cluster", Image: "rocky",
				KernelArgs: []string{"quiet", "é"}, Tags: map[string]string{"rack": "r1", "x": ""},
				SystemOverlays: []string{"init"}, RuntimeOverlays: []string{"generic"}, SystemInput: "si", RuntimeInput: "ri",
				AssetKey: "hmac-sha256:22", LegacyAssetKeySHA256: "sha256:33",
				BMC:  &hclspec.BMC{Driver: "ipmi", Address: "10.1.0.1", Port: 623, Credentials: "c", Insecure: true},
				Root: "tmpfs", RootSize: "50%", Artifacts: &NodeArtifacts{Kernel: "k", Image: "i", System: "s", Runtime: "r"}},
			"bare":  {MAC: "52:54:00:00:00:02", KernelArgs: nil, SystemOverlays: []string{}, Tags: map[string]string{}, BMC: &hclspec.BMC{}},
			"other": {MAC: "52:54:00:00:00:03", Artifacts: &NodeArtifacts{}},
		},
	}
}

// The cache reads back exactly what inventory.json reads back, for every
// field; a new field of NodeState must be added to inventory_cache.go and
// to this list.
func TestInventoryCacheSameAsJSON(t *testing.T) {
	var names []string
	for _, typ := range []any{NodeState{}, NodeArtifacts{}, hclspec.BMC{}} {
		for _, f := range reflect.VisibleFields(reflect.TypeOf(typ)) {
			names = append(names, f.Name)
		}
	}
	want := "MAC IP Network Image KernelArgs Tags SystemOverlays RuntimeOverlays SystemInput RuntimeInput AssetKey LegacyAssetKeySHA256 assetKeySum BMC Root RootSize Artifacts " +
		"Kernel Image System Runtime Driver Address Port Credentials Insecure"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("the node state's fields are\n%s\nthe inventory cache encodes\n%s", got, want)
	}
	inv := cacheInventory()
	data, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := DecodeInventory(data)
	if err != nil {
		t.Fatal(err)
	}
	enc, ok := encodeInventoryCache(inv, data)
	if !ok {
		t.Fatal("not encoded")
	}
	fromCache, err := decodeInventoryCache(enc, data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromCache, fromJSON) {
		t.Errorf("from the cache:\n%+v\nfrom JSON:\n%+v", fromCache, fromJSON)
	}
	for name := range fromJSON.Nodes {
		if a, b := fromCache.Nodes[name], fromJSON.Nodes[name]; !reflect.DeepEqual(a, b) {
			t.Errorf("node %s from the cache %+v, from JSON %+v", name, a, b)
		}
	}
	// A string JSON would not give back (not UTF-8): no cache.
	bad := cacheInventory()
	n := bad.Nodes["bare"]
	n.Tags = map[string]string{"k": "\xff"}
	bad.Nodes["bare"] = n
	if _, ok := encodeInventoryCache(bad, data); ok {
		t.Error("a tag that is not UTF-8 was cached")
	}
}

// ReadInventory uses the cache only while it copies inventory.json byte for
// byte and is whole: a cache of another inventory.json, cut short or with
// a byte changed is not used (inventory.json is read), never a wrong state.
func TestInventoryCacheStaleOrDamaged(t *testing.T) {
	state := t.TempDir()
	inv := cacheInventory()
	data, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeInventory(state, inv, data); err != nil {
		t.Fatal(err)
	}
	cacheFile := filepath.Join(state, InventoryCacheFile)
	if _, err := os.ReadFile(cacheFile); err != nil {
		t.Fatalf("no cache written: %v", err)
	}
	want, err := DecodeInventory(data)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, wantCache bool) {
		t.Helper()
		got, gotData, err := ReadInventory(state)
		if err != nil || !reflect.DeepEqual(got, want) || string(gotData) != string(data) {
			t.Errorf("%s: ReadInventory %v, inventory differs: %v", name, err, !reflect.DeepEqual(got, want))
		}
		// A plan's read: the same inventory, the digest of the same bytes.
		got, digest, err := ReadInventoryDigest(state)
		if err != nil || !reflect.DeepEqual(got, want) || digest != Digest(data) {
			t.Errorf("%s: ReadInventoryDigest %v, digest %s want %s, inventory differs: %v", name, err, digest, Digest(data), !reflect.DeepEqual(got, want))
		}
		disk, _ := os.ReadFile(cacheFile)
		_, cerr := decodeInventoryCache(disk, data)
		if (cerr == nil) != wantCache {
			t.Errorf("%s: the cache is used: %v, want %v", name, cerr == nil, wantCache)
		}
	}
	check("whole", true)
	// Another inventory.json (written by an older gitboot, or by hand):
	// the cache is stale.
	inv.Nodes["full"] = NodeState{MAC: "52:54:00:00:00:09"}
	data, _ = inv.Encode()
	if err := os.WriteFile(filepath.Join(state, InventoryFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	want, _ = DecodeInventory(data)
	check("stale", false)
	if want.Nodes["full"].MAC != "52:54:00:00:00:09" {
		t.Fatal("the new inventory.json was not read")
	}
	// Written again: whole; then damaged.
	if err := writeInventory(state, inv, data); err != nil {
		t.Fatal(err)
	}
	check("rewritten", true)
	good, _ := os.ReadFile(cacheFile)
	for name, bad := range map[string][]byte{
		"cut short":      good[:len(good)-40],
		"a byte changed": []byte(strings.Replace(string(good), "52:54:00:00:00:02", "52:54:00:00:00:98", 1)),
		"empty":          {},
	} {
		if string(bad) == string(good) {
			t.Fatalf("%s: unchanged", name)
		}
		if err := os.WriteFile(cacheFile, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		check(name, false)
	}
}

// ReadInventoryDigest of a damaged inventory.json whose cache copied it
// says corrupt, as ReadInventory does, never the cache's copy; with
// nothing applied, nothing.
func TestReadInventoryDigestDamaged(t *testing.T) {
	state := t.TempDir()
	inv := cacheInventory()
	data, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeInventory(state, inv, data); err != nil {
		t.Fatal(err)
	}
	if got, digest, err := ReadInventoryDigest(state); err != nil || got == nil || digest != Digest(data) {
		t.Fatalf("ReadInventoryDigest: %v %q %v", got, digest, err)
	}
	if err := os.WriteFile(filepath.Join(state, InventoryFile), data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	var corrupt *statefile.CorruptError
	if _, _, err := ReadInventory(state); !errors.As(err, &corrupt) {
		t.Errorf("ReadInventory of a damaged inventory.json: %v", err)
	}
	if inv, _, err := ReadInventoryDigest(state); !errors.As(err, &corrupt) || inv != nil {
		t.Errorf("ReadInventoryDigest of a damaged inventory.json: %v", err)
	}
	if inv, digest, err := ReadInventoryDigest(t.TempDir()); inv != nil || digest != "" || err != nil {
		t.Errorf("ReadInventoryDigest with nothing applied: %v %q %v", inv, digest, err)
	}
}

// ReadInventoryHead reads the variables and server block of the running
// inventory without its nodes; a plan made with a head whose whole
// inventory has since changed (another server block or other variables)
// fails with ErrRunningChanged, never a plan against a mix of the two.
func TestReadInventoryHead(t *testing.T) {
	e := newRecEnv(t)
	if head, err := ReadInventoryHead(e.state); head != nil || err != nil {
		t.Fatalf("nothing applied: %+v %v", head, err)
	}
	commit := e.repo.commit(baseFiles(), "first")
	e.mustApply(commit)
	running, data := e.rec.Running()
	head, err := ReadInventoryHead(e.state)
	if err != nil || head.Server.Name != "head" || head.Commit != commit || head.Nodes != nil || !reflect.DeepEqual(head.Server, running.Server) {
		t.Fatalf("head %+v %v", head, err)
	}
	plan := func(head *Inventory) error {
		_, err := PlanCommitRunning(e.state, nil, e.repo.source(), "main", e.vars, "", nil, head, func() (*RunningRead, error) { return &RunningRead{Inv: running, Digest: digestOf(data)}, nil })
		return err
	}
	if err := plan(head); err != nil {
		t.Fatalf("head of the running inventory: %v", err)
	}
	other := *head
	other.Vars = map[string]string{"image": "/elsewhere"}
	if err := plan(&other); !errors.Is(err, ErrRunningChanged) {
		t.Errorf("other variables: %v, want ErrRunningChanged", err)
	}
	if err := plan(nil); !errors.Is(err, ErrRunningChanged) {
		t.Errorf("no head, an inventory: %v, want ErrRunningChanged", err)
	}
	if err := os.WriteFile(filepath.Join(e.state, InventoryFile), []byte(`{"version": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadInventoryHead(e.state); err == nil {
		t.Error("a damaged inventory's head was read")
	}
}
