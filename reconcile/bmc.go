package reconcile

import "github.com/gitboot/gitboot/hclspec"

// sameBMC reports whether two nodes' bmc blocks are equal (both nil too).
func sameBMC(a, b *hclspec.BMC) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// addBMCAttrs adds a node's bmc settings to its plan attributes, one per
// setting ("bmc.address", ...), so that a plan shows which one changed. A
// change of them needs no reboot: only power control reads them.
func addBMCAttrs(m map[string]any, b *hclspec.BMC) {
	if b == nil {
		return
	}
	m["bmc.driver"] = b.Driver
	m["bmc.address"] = b.Address
	m["bmc.port"] = b.Port
	m["bmc.credentials"] = b.Credentials
	m["bmc.insecure"] = b.Insecure
}

// bmcLabel is how the status views show a node's BMC: driver and
// host:port, never the credentials.
func bmcLabel(b *hclspec.BMC) string {
	if b == nil {
		return ""
	}
	return b.Driver + " " + b.HostPort()
}
