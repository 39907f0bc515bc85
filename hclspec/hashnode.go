package hclspec

import (
	"encoding/json"
	"slices"

	"github.com/gitboot/gitboot/internal/jsonstr"
)

// appendHashNode appends json.Marshal(hashNodeOf(n)) (what hashCluster
// hashes per node), written without reflection for the fields most nodes
// have: a tenth of a one-node plan's load at 10,000 nodes went to
// encoding/json here. A node with interfaces, a bmc block or resources is
// encoded by encoding/json as before. TestHashNodeAsJSON holds it to
// encoding/json's bytes; a field added to hashNode must be added here.
func appendHashNode(b []byte, n *Node) []byte {
	h := hashNodeOf(n)
	if len(h.Interfaces) > 0 || h.BMC != nil || len(h.Resources) > 0 {
		data, err := json.Marshal(h)
		if err != nil {
			return append(b, "unencodable: "+err.Error()...)
		}
		return append(b, data...)
	}
	str := func(name, v string) {
		b = append(b, name...)
		b = jsonstr.Append(b, v)
	}
	list := func(name string, l []string) {
		b = append(b, name...)
		b = jsonstr.AppendList(b, l)
	}
	str(`{"Name":`, h.Name)
	str(`,"MAC":`, h.MAC)
	str(`,"IP":`, h.IP)
	str(`,"Image":`, h.Image)
	str(`,"Network":`, h.Network)
	list(`,"KernelArgs":`, h.KernelArgs)
	list(`,"SystemO":`, h.SystemO)
	list(`,"RuntimeO":`, h.RuntimeO)
	list(`,"Pr":`, h.Pr)
	b = append(b, `,"Tags":`...)
	if h.Tags == nil {
		b = append(b, "null"...)
	} else {
		keys := make([]string, 0, len(h.Tags))
		for k := range h.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			b = jsonstr.Append(b, h.Tags[k])
		}
		b = append(b, '}')
	}
	if h.AssetKey != "" {
		str(`,"AssetKey":`, h.AssetKey)
	}
	if h.Root != "" {
		str(`,"Root":`, h.Root)
	}
	if h.NetConfig != "" {
		str(`,"NetConfig":`, h.NetConfig)
	}
	if h.Users != nil {
		list(`,"Users":`, *h.Users)
	}
	return append(b, '}')
}
