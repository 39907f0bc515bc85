package reconcile

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/gitboot/gitboot/hclspec"
)

// nodeJSONField starts a member of a node record in inventory.json: the prefix
// "  " and one level of " ".
const nodeJSONField = "\n   "

// appendNodeJSON appends n as json.MarshalIndent(n, "  ", " ") writes it
// (a node's value in inventory.json, Encode), without reflection: some
// five times faster, the largest part of writing the inventory at 10,000
// nodes. TestNodeJSONAsMarshalIndent holds it to encoding/json's bytes for
// every field of NodeState; a field added there must be added here.
func appendNodeJSON(b []byte, n *NodeState) []byte {
	b = append(b, '{')
	str := func(name, v string, omitEmpty, first bool) {
		if omitEmpty && v == "" {
			return
		}
		if !first {
			b = append(b, ',')
		}
		b = append(b, nodeJSONField...)
		b = append(b, name...)
		b = appendJSONString(b, v)
	}
	list := func(name string, l []string) {
		b = append(b, ","+nodeJSONField...)
		b = append(b, name...)
		switch {
		case l == nil:
			b = append(b, "null"...)
		case len(l) == 0:
			b = append(b, "[]"...)
		default:
			b = append(b, '[')
			for i, s := range l {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, "\n    "...)
				b = appendJSONString(b, s)
			}
			b = append(b, "\n   ]"...)
		}
	}
	str(`"mac": `, n.MAC, false, true)
	str(`"ip": `, n.IP, true, false)
	str(`"network": `, n.Network, false, false)
	str(`"image": `, n.Image, false, false)
	list(`"kernel_args": `, n.KernelArgs)
	b = appendTagsJSON(b, n.Tags)
	list(`"system_overlays": `, n.SystemOverlays)
	list(`"runtime_overlays": `, n.RuntimeOverlays)
	str(`"system_input": `, n.SystemInput, false, false)
	str(`"runtime_input": `, n.RuntimeInput, false, false)
	str(`"asset_key": `, n.AssetKey, true, false)
	str(`"asset_key_sha256": `, n.LegacyAssetKeySHA256, true, false)
	b = appendBMCJSON(b, n.BMC)
	str(`"root": `, n.Root, true, false)
	str(`"root_size": `, n.RootSize, true, false)
	b = appendArtifactsJSON(b, n.Artifacts)
	return append(b, "\n  }"...)
}

// appendTagsJSON appends a node's "tags" member (sorted keys, as
// encoding/json writes a map), or nothing for no tags.
func appendTagsJSON(b []byte, tags map[string]string) []byte {
	if len(tags) == 0 {
		return b
	}
	b = append(b, ","+nodeJSONField+`"tags": {`...)
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = appendJSONString(b, k)
		b = append(b, ": "...)
		b = appendJSONString(b, tags[k])
	}
	b = append(b, "\n   }"...)
	return b
}

// appendBMCJSON appends a node's "bmc" member, or nothing without one.
func appendBMCJSON(b []byte, m *hclspec.BMC) []byte {
	if m == nil {
		return b
	}
	b = append(b, ","+nodeJSONField+`"bmc": {`+"\n    "+`"driver": `...)
	b = appendJSONString(b, m.Driver)
	b = append(b, ",\n    "+`"address": `...)
	b = appendJSONString(b, m.Address)
	b = append(b, ",\n    "+`"port": `...)
	b = strconv.AppendInt(b, int64(m.Port), 10)
	b = append(b, ",\n    "+`"credentials": `...)
	b = appendJSONString(b, m.Credentials)
	b = append(b, ",\n    "+`"insecure": `...)
	b = strconv.AppendBool(b, m.Insecure)
	b = append(b, "\n   }"...)
	return b
}

// appendArtifactsJSON appends a node's "artifacts" member, or nothing
// without one.
func appendArtifactsJSON(b []byte, a *NodeArtifacts) []byte {
	if a == nil {
		return b
	}
	b = append(b, ","+nodeJSONField+`"artifacts": {`+"\n    "+`"kernel": `...)
	b = appendJSONString(b, a.Kernel)
	b = append(b, ",\n    "+`"image": `...)
	b = appendJSONString(b, a.Image)
	b = append(b, ",\n    "+`"system": `...)
	b = appendJSONString(b, a.System)
	b = append(b, ",\n    "+`"runtime": `...)
	b = appendJSONString(b, a.Runtime)
	b = append(b, "\n   }"...)
	return b
}

// appendJSONString appends s quoted as encoding/json quotes it: plain
// printable ASCII is copied, anything else goes through encoding/json
// (HTML characters, invalid UTF-8, U+2028 and U+2029 are escaped there).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
