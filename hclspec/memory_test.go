package hclspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// hashWhole is hashCluster as it was before it hashed node by node: one
// json.Encoder of the whole model. The hashes must stay the same, since
// inventories and manifests on disk hold them.
func hashWhole(c *Cluster) string {
	v := hashModel(c)
	for _, n := range c.Nodes {
		v.Nodes = append(v.Nodes, hashNodeOf(n))
	}
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(v); err != nil {
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestHashClusterUnchanged(t *testing.T) {
	repos := map[string]map[string]string{
		"literal":  {"main.hcl": generated(50, false)},
		"foreach":  {"main.hcl": generated(50, true), "nodes.macs": macFile(50)},
		"no nodes": {"main.hcl": baseHCL},
		"tags and html": {"main.hcl": baseHCL + `
node "c001" {
  mac         = "52:54:00:00:00:01"
  ip          = "10.99.0.11"
  image       = image.rocky9
  kernel_args = ["a<b>&c"]
  tags        = { "role" = "x<y>", b = "\u2028" }
  asset_key   = "k"
}
`},
	}
	for name, files := range repos {
		c := mustLoad(t, mapFS(files), Options{})
		if got, want := c.Hash, hashWhole(c); got != want {
			t.Errorf("%s: hash %s, want %s as before", name, got, want)
		}
	}
}

// TestForEachNodesShareMaps checks that the nodes of one for_each share one
// Origins map and one Tags map (and that sharing does not mix up nodes
// whose maps differ).
func TestForEachNodesShareMaps(t *testing.T) {
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": generated(100, true), "nodes.macs": macFile(100), "more.hcl": `
node "other" {
  mac      = "52:54:00:00:00:01"
  ip       = "10.99.0.11"
  profiles = [profile.compute]
  tags     = { role = "other" }
}
`}), Options{})
	first, _ := c.Node("n000001")
	last, _ := c.Node("n000100")
	other, _ := c.Node("other")
	if len(first.Origins) == 0 || len(first.Tags) == 0 {
		t.Fatalf("n000001: origins %v, tags %v", first.Origins, first.Tags)
	}
	if !sameMap(first.Origins, last.Origins) || !sameMap(first.Tags, last.Tags) {
		t.Error("the nodes of one for_each do not share their Origins and Tags maps")
	}
	if sameMap(first.Origins, other.Origins) || other.Tags["role"] != "other" || first.Tags["role"] != "compute" {
		t.Errorf("maps shared between different nodes: other %v %v, n000001 %v", other.Origins, other.Tags, first.Tags)
	}
}

// sameMap reports whether a and b are the same map (not merely equal).
func sameMap[V any](a, b map[string]V) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	const probe = "\x00probe"
	var zero V
	a[probe] = zero
	_, shared := b[probe]
	delete(a, probe)
	return shared
}
