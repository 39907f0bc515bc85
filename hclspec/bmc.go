package hclspec

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// BMC drivers and their default ports.
const (
	BMCDriverIPMI       = "ipmi"    // IPMI 2.0 over LAN (lanplus)
	BMCDriverRedfish    = "redfish" // DMTF Redfish over HTTPS
	DefaultIPMIPort     = 623
	DefaultRedfishPort  = 443
	bmcBlockType        = "bmc"
	bmcCredentialsLimit = 64
)

// BMCDrivers are the values `bmc { driver = ... }` accepts.
var BMCDrivers = []string{BMCDriverIPMI, BMCDriverRedfish}

// BMC is a node's baseboard management controller: the merged `bmc` block
// of its profiles and its own. It names its credentials; the user name and
// password live on the server (`--bmc-credentials FILE`), never in git.
type BMC struct {
	Driver      string `json:"driver"`      // "ipmi" | "redfish"
	Address     string `json:"address"`     // an IP address or a DNS name
	Port        int    `json:"port"`        // default 623 (ipmi) or 443 (redfish)
	Credentials string `json:"credentials"` // a name in the server's credentials file
	Insecure    bool   `json:"insecure"`    // redfish: accept a self-signed certificate
}

// HostPort is the BMC's address and port in "host:port" form.
func (b *BMC) HostPort() string {
	if ip, err := netip.ParseAddr(b.Address); err == nil && ip.Is6() {
		return fmt.Sprintf("[%s]:%d", b.Address, b.Port)
	}
	return fmt.Sprintf("%s:%d", b.Address, b.Port)
}

var bmcSchema = schema("driver", "address", "port", "credentials", "insecure")

// withBMC adds the nested `bmc` block to a profile or node schema.
func withBMC(s *hcl.BodySchema) *hcl.BodySchema {
	s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: bmcBlockType})
	return s
}

// bmcSettings are the attributes of a `bmc` block, merged attribute by
// attribute like the other settings of profiles and nodes.
type bmcSettings struct {
	driver, address, credentials setting[string]
	port                         setting[int]
	insecure                     setting[bool]
	block                        hcl.Range // the last bmc block that set anything
}

func (b *bmcSettings) any() bool {
	return b.driver.set || b.address.set || b.credentials.set || b.port.set || b.insecure.set ||
		b.driver.broken || b.address.broken || b.credentials.broken || b.port.broken
}

// decodeBMC reads the `bmc` block of a profile or node body, if it has one.
func decodeBMC(a *attrs) bmcSettings {
	var s bmcSettings
	var blocks []*hcl.Block
	for _, b := range a.content.Blocks {
		if b.Type == bmcBlockType {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) == 0 {
		return s
	}
	if len(blocks) > 1 {
		a.l.errorf(blocks[1].DefRange.Ptr(), "Duplicate bmc block",
			"%s has more than one bmc block; a node has one BMC (first one at line %d).", a.what, blocks[0].DefRange.Start.Line)
	}
	blk := blocks[0]
	content, diags := blk.Body.Content(bmcSchema)
	a.l.diags = append(a.l.diags, diags...)
	ba := &attrs{l: a.l, content: content, ctx: a.ctx, eachOK: a.eachOK, what: "the bmc block of " + a.what}
	s.block = blk.DefRange
	if v, at, ok := ba.str("driver"); ok {
		if !contains(BMCDrivers, v) {
			ba.valueErr(at, "Invalid BMC driver", "driver must be one of %s, not %q.%s", strings.Join(quoteAll(BMCDrivers), ", "), v, suggest(v, BMCDrivers))
			s.driver.broken = true
		} else {
			s.driver = setting[string]{v: v, rng: at.Expr.Range(), set: true}
		}
	} else if at != nil {
		s.driver.broken = true
	}
	if v, at, ok := ba.str("address"); ok {
		if !validHost(v) {
			ba.valueErr(at, "Invalid BMC address", "address of %s must be an IP address or a DNS name, not %q.", ba.what, v)
			s.address.broken = true
		} else {
			s.address = setting[string]{v: v, rng: at.Expr.Range(), set: true}
		}
	} else if at != nil {
		s.address.broken = true
	}
	if v, at, ok := ba.port("port"); ok {
		s.port = setting[int]{v: v, rng: at.Expr.Range(), set: true}
	} else if at != nil {
		s.port.broken = true
	}
	if v, at, ok := ba.str("credentials"); ok {
		if !validName(v) || len(v) > bmcCredentialsLimit {
			ba.valueErr(at, "Invalid credentials name", "credentials must name a credentials block of the server's credentials file (letters, digits, '_' and '-', at most %d), not %q.", bmcCredentialsLimit, v)
			s.credentials.broken = true
		} else {
			s.credentials = setting[string]{v: v, rng: at.Expr.Range(), set: true}
		}
	} else if at != nil {
		s.credentials.broken = true
	}
	if v, at, ok := ba.boolean("insecure"); ok {
		s.insecure = setting[bool]{v: v, rng: at.Expr.Range(), set: true}
	}
	return s
}

// validHost reports whether v is an IP address or a DNS host name.
func validHost(v string) bool {
	if _, err := netip.ParseAddr(v); err == nil {
		return true
	}
	return len(v) <= 253 && domainRE.MatchString(v)
}

// apply merges o over b: each attribute o sets wins.
func (b *bmcSettings) apply(o bmcSettings) {
	mergeSetting(&b.driver, o.driver)
	mergeSetting(&b.address, o.address)
	mergeSetting(&b.credentials, o.credentials)
	mergeSetting(&b.port, o.port)
	mergeSetting(&b.insecure, o.insecure)
	if o.block != (hcl.Range{}) {
		b.block = o.block
	}
}

// mergeBMC sets n.BMC from the merged settings m, reporting a BMC that
// lacks its driver or address (at the last bmc block that applies).
func (l *loader) mergeBMC(n *Node, m bmcSettings) {
	if !m.any() {
		return
	}
	b := &BMC{}
	setOrigin(n, "bmc.driver", m.driver, func(v string) { b.Driver = v })
	setOrigin(n, "bmc.address", m.address, func(v string) { b.Address = v })
	setOrigin(n, "bmc.credentials", m.credentials, func(v string) { b.Credentials = v })
	setOrigin(n, "bmc.port", m.port, func(v int) { b.Port = v })
	setOrigin(n, "bmc.insecure", m.insecure, func(v bool) { b.Insecure = v })
	ok := true
	if !m.driver.set {
		ok = false
		if !m.driver.broken {
			l.errorf(m.block.Ptr(), "Missing BMC driver", "The bmc of node %q needs driver (%s), in its own bmc block or a profile's.", n.Name, strings.Join(quoteAll(BMCDrivers), " or "))
		}
	}
	if !m.address.set {
		ok = false
		if !m.address.broken {
			l.errorf(m.block.Ptr(), "Missing BMC address", "The bmc of node %q needs address, in its own bmc block or a profile's (usually from for_each).", n.Name)
		}
	}
	if !ok || m.port.broken || m.credentials.broken {
		return
	}
	if b.Port == 0 {
		b.Port = DefaultIPMIPort
		if b.Driver == BMCDriverRedfish {
			b.Port = DefaultRedfishPort
		}
	}
	n.BMC = b
}
