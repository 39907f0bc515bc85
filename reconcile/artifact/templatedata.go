package artifact

import (
	"crypto/sha256"
	"hash"
	"sort"
	"strconv"
	"sync"

	"github.com/gitboot/gitboot/hclspec"
)

// moreData is the part of a dataSet added after the first release of
// templates: the nodes' profiles, image, BMC (depNodeExtra) and resources
// (depNodeRes), and the node's networks (depNetworks), hashed apart from
// the first parts so those keep their keys.
type moreData struct {
	extraHash, resHash       map[string][32]byte // by node name
	clusterExtra, clusterRes [32]byte
	allExtra, allRes         hash.Hash
	res                      map[string]hclspec.Resources // by node name
	order                    []string                     // node names, in the cluster's order

	mu       sync.Mutex
	clusterS map[resSel][32]byte // the cluster's resources hash per selection
}

// sized makes m's maps for n nodes (addNode makes them otherwise).
func (m *moreData) sized(n int) {
	if m.extraHash == nil && n > 0 {
		m.extraHash, m.resHash = make(map[string][32]byte, n), make(map[string][32]byte, n)
		m.allExtra, m.allRes = sha256.New(), sha256.New()
		m.res, m.clusterS = make(map[string]hclspec.Resources, n), map[resSel][32]byte{}
		m.order = make([]string, 0, n)
	}
}

// addNode fills tn's later fields from n and hashes them.
func (m *moreData) addNode(tn *TemplateNode, n *hclspec.Node) {
	if m.extraHash == nil {
		m.extraHash, m.resHash = map[string][32]byte{}, map[string][32]byte{}
		m.allExtra, m.allRes = sha256.New(), sha256.New()
		m.res, m.clusterS = map[string]hclspec.Resources{}, map[resSel][32]byte{}
	}
	m.res[tn.Name] = n.Resources
	m.order = append(m.order, tn.Name)
	tn.Profiles, tn.Image = n.Profiles, n.Image
	if n.BMC != nil {
		tn.BMC = TemplateBMC{Driver: n.BMC.Driver, Address: n.BMC.Address, Port: n.BMC.Port}
	}
	tn.Resources = hclspec.FreezeResources(n.Resources)
	var kh keyHasher
	kh.str("node-extra")
	kh.str(tn.Name)
	kh.str(tn.Image)
	kh.str(strconv.Itoa(len(tn.Profiles)))
	for _, p := range tn.Profiles {
		kh.str(p)
	}
	kh.str(tn.BMC.Driver)
	kh.str(tn.BMC.Address)
	kh.str(strconv.Itoa(tn.BMC.Port))
	e := kh.sum()
	m.extraHash[tn.Name] = e
	m.allExtra.Write(e[:])
	r := hashParts("node-resources", tn.Name, hclspec.ResourcesJSON(n.Resources))
	m.resHash[tn.Name] = r
	m.allRes.Write(r[:])
}

func (m *moreData) finish() {
	if m.allExtra == nil {
		m.allExtra, m.allRes = sha256.New(), sha256.New()
		m.clusterS = map[resSel][32]byte{}
	}
	m.allExtra.Sum(m.clusterExtra[:0])
	m.allRes.Sum(m.clusterRes[:0])
}

// depKey adds the later parts d selects for node to h.
func (m *moreData) depKey(h *keyHasher, d deps, res resSel, node *hclspec.Node, s *dataSet) {
	h.buf = append(h.buf, byte(d>>8))
	if d&(depNodeRes|depClusterRes) != 0 {
		h.str(string(res))
	}
	if d&depNodeExtra != 0 {
		v := m.extraHash[node.Name]
		h.raw(v[:])
	}
	if d&depNodeRes != 0 {
		v := m.resHash[node.Name]
		if res != resAll {
			v = hashParts("node-resources", node.Name, hclspec.ResourcesJSON(res.pick(m.res[node.Name])))
		}
		h.raw(v[:])
	}
	if d&depClusterExtra != 0 {
		h.raw(m.clusterExtra[:])
	}
	if d&depClusterRes != 0 {
		v := m.clusterRes
		if res != resAll {
			v = m.clusterSel(res)
		}
		h.raw(v[:])
	}
	if d&depNetworks != 0 {
		for _, name := range nodeNetworkNames(node) {
			v := s.netHash[name]
			h.str(name)
			h.raw(v[:])
		}
	}
}

// clusterSel is the hash of the selected resources of every node.
func (m *moreData) clusterSel(res resSel) [32]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.clusterS[res]; ok {
		return v
	}
	all := sha256.New()
	for _, name := range m.order {
		v := hashParts("node-resources", name, hclspec.ResourcesJSON(res.pick(m.res[name])))
		all.Write(v[:])
	}
	var v [32]byte
	all.Sum(v[:0])
	m.clusterS[res] = v
	return v
}

// nodeNetworkNames are the networks node is on: its boot network first,
// then its interfaces' others, by name.
func nodeNetworkNames(node *hclspec.Node) []string {
	var out []string
	if node.Network != "" {
		out = append(out, node.Network)
	}
	var more []string
	for _, it := range node.Interfaces {
		if it.Network != "" && it.Network != node.Network {
			more = append(more, it.Network)
		}
	}
	sort.Strings(more)
	for i, n := range more {
		if i == 0 || more[i-1] != n {
			out = append(out, n)
		}
	}
	return out
}

// nodeNetworks is .Networks for node.
func (s *dataSet) nodeNetworks(node *hclspec.Node) []TemplateNetwork {
	names := nodeNetworkNames(node)
	if len(names) == 0 {
		return nil
	}
	out := make([]TemplateNetwork, 0, len(names))
	for _, n := range names {
		if tn, ok := s.networks[n]; ok {
			out = append(out, tn)
		}
	}
	return out
}
