// Package nodeblock proposes HCL `node` blocks for MACs that no declared
// node has: a name from a format, the next free address of a network
// outside its dynamic range and away from every address already taken,
// and a profile; and writes them in `gitboot fmt`'s canonical style. The
// web status page (bootsvc/webui) and `gitboot discover` use it; it
// imports neither hclspec nor reconcile, so bootsvc may import it.
package nodeblock

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// DefaultNameFormat is the node name format when none is given.
const DefaultNameFormat = "n%03d"

// Network is what a proposal needs to know of the network the new nodes
// join.
type Network struct {
	Name   string
	Subnet netip.Prefix
	// DynamicStart and DynamicEnd bound the dynamic range (both zero:
	// none); no proposed address falls inside it.
	DynamicStart, DynamicEnd netip.Addr
}

// Options are the inputs of Propose.
type Options struct {
	Network Network
	// Taken are the addresses no new node may have: the declared nodes',
	// the gateway, DNS servers, the server's own.
	Taken map[netip.Addr]bool
	// Names are the node names already declared.
	Names map[string]bool
	// NameFormat has one integer verb (fmt), e.g. "n%03d" or "r1n%02d";
	// numbering starts at 1 and skips declared names. Empty:
	// DefaultNameFormat.
	NameFormat string
	// Profile is the profile the blocks list (a name, without "profile.").
	Profile string
}

// Block is one proposed node.
type Block struct {
	Name string
	MAC  string
	IP   netip.Addr
	// Comment is a line written above the block (without "# "); empty:
	// none.
	Comment string
}

// Propose returns one block per MAC, in the order given. It fails when the
// name format is not a format of one integer, or the network has no free
// address left.
func Propose(macs []string, opt Options) ([]Block, error) {
	format := opt.NameFormat
	if format == "" {
		format = DefaultNameFormat
	}
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	n := opt.Network
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("network %q has no IPv4 subnet", n.Name)
	}
	n.Subnet = n.Subnet.Masked()
	next := n.Subnet.Addr().Next() // the first host address
	num := 0
	out := make([]Block, 0, len(macs))
	taken := map[netip.Addr]bool{}
	names := map[string]bool{}
	for _, mac := range macs {
		for {
			num++
			name := fmt.Sprintf(format, num)
			if !opt.Names[name] && !names[name] {
				names[name] = true
				out = append(out, Block{Name: name, MAC: mac})
				break
			}
		}
		b := &out[len(out)-1]
		for ; ; next = next.Next() {
			if !next.IsValid() || !n.Subnet.Contains(next) || isBroadcast(n.Subnet, next) {
				return nil, fmt.Errorf("network %q (%s) has no free address left for %s outside its dynamic range", n.Name, n.Subnet, mac)
			}
			if opt.Taken[next] || taken[next] || inRange(next, n.DynamicStart, n.DynamicEnd) {
				continue
			}
			b.IP = next
			taken[next] = true
			next = next.Next()
			break
		}
	}
	return out, nil
}

// checkFormat accepts a format with exactly one integer verb and nothing
// that would make a name HCL cannot hold.
func checkFormat(format string) error {
	verbs := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		if j < len(format) && format[j] == '%' {
			i = j
			continue
		}
		for j < len(format) && strings.IndexByte("0123456789-+ ", format[j]) >= 0 {
			j++
		}
		if j >= len(format) || strings.IndexByte("dxXo", format[j]) < 0 {
			return fmt.Errorf("--name-format %q: want one integer verb such as %%03d", format)
		}
		verbs++
		i = j
	}
	if verbs != 1 {
		return fmt.Errorf("--name-format %q: want exactly one integer verb such as %%03d, got %d", format, verbs)
	}
	name := fmt.Sprintf(format, 1)
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("--name-format %q gives %q: node names are letters, digits, '-' and '_'", format, name)
		}
	}
	return nil
}

func inRange(a, start, end netip.Addr) bool {
	return start.IsValid() && end.IsValid() && a.Compare(start) >= 0 && a.Compare(end) <= 0
}

func isBroadcast(p netip.Prefix, a netip.Addr) bool {
	if p.Bits() >= 31 {
		return false
	}
	return !a.Next().IsValid() || !p.Contains(a.Next())
}

// Write renders the blocks in canonical style (hclwrite.Format, as `gitboot
// fmt` does), each with profiles = [profile.PROFILE] when profile is set.
func Write(blocks []Block, profile string) []byte {
	var b bytes.Buffer
	for i, bl := range blocks {
		if i > 0 {
			b.WriteByte('\n')
		}
		if bl.Comment != "" {
			fmt.Fprintf(&b, "# %s\n", bl.Comment)
		}
		fmt.Fprintf(&b, "node %q {\n", bl.Name)
		fmt.Fprintf(&b, "mac = %q\n", bl.MAC)
		fmt.Fprintf(&b, "ip = %q\n", bl.IP.String())
		if profile != "" {
			fmt.Fprintf(&b, "profiles = [profile.%s]\n", profile)
		}
		b.WriteString("}\n")
	}
	return hclwrite.Format(b.Bytes())
}

// ErrNoNetwork is returned by Pick when there is no network to put new
// nodes on.
var ErrNoNetwork = errors.New("no network is declared")

// Pick chooses the network new nodes join: the one named, else the one
// whose subnet holds addr (where an unknown MAC was seen), else the only
// one, else the first.
func Pick(networks []Network, name string, addr netip.Addr) (Network, error) {
	if len(networks) == 0 {
		return Network{}, ErrNoNetwork
	}
	if name != "" {
		for _, n := range networks {
			if n.Name == name {
				return n, nil
			}
		}
		names := make([]string, len(networks))
		for i, n := range networks {
			names[i] = n.Name
		}
		return Network{}, fmt.Errorf("no network %q (declared: %s)", name, strings.Join(names, ", "))
	}
	if addr.IsValid() {
		for _, n := range networks {
			if n.Subnet.Contains(addr) {
				return n, nil
			}
		}
	}
	return networks[0], nil
}
