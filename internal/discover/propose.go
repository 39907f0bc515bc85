package discover

import (
	"fmt"

	"github.com/gitboot/gitboot/internal/nodeblock"
)

// Request is what gitboot discover proposes node blocks for.
type Request struct {
	Seen       []Seen // the MACs, in order
	Profile    string // "": compute when declared, else the only profile
	Network    string // "": where the first MAC was seen, else the only or first network
	NameFormat string
	// Skipped is told about each MAC that is a declared node already.
	Skipped func(mac, node string)
}

// Proposal is the node blocks proposed, in `gitboot fmt` style.
type Proposal struct {
	Text    []byte
	Blocks  int
	Network string
	Profile string
}

// Propose proposes one node block for each MAC of req no node of d
// declares; nil when there is none.
func (d *Declared) Propose(req Request) (*Proposal, error) {
	var macs []string
	var todo []Seen
	for _, s := range req.Seen {
		if name, ok := d.Node(s.MAC); ok {
			if req.Skipped != nil {
				req.Skipped(s.MAC, name)
			}
			continue
		}
		macs = append(macs, s.MAC)
		todo = append(todo, s)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	profile, err := d.PickProfile(req.Profile)
	if err != nil {
		return nil, err
	}
	network, err := nodeblock.Pick(d.Networks(), req.Network, todo[0].Addr)
	if err != nil {
		return nil, fmt.Errorf("--network: %w", err)
	}
	blocks, err := nodeblock.Propose(macs, d.Options(network, req.NameFormat, profile))
	if err != nil {
		return nil, err
	}
	for i := range blocks {
		blocks[i].Comment = todo[i].Comment
	}
	return &Proposal{Text: nodeblock.Write(blocks, profile), Blocks: len(blocks), Network: network.Name, Profile: profile}, nil
}
