package reconcile

import (
	"fmt"
	"io"
	"time"

	"github.com/gitboot/gitboot/internal/clio"
)

// ShowPolicy is `gitboot policy show`: the signature policy recorded in
// stateDir, as text or JSON.
func ShowPolicy(w io.Writer, stateDir string, asJSON bool) error {
	p, err := ReadPolicy(stateDir)
	if err != nil {
		return err
	}
	if asJSON {
		if p == nil {
			p = &StatePolicy{Version: PolicyVersion}
		}
		return clio.WriteJSON(w, p)
	}
	switch {
	case p == nil:
		fmt.Fprintf(w, "No signature policy is recorded in %s: every commit is accepted.\n", stateDir)
		return nil
	case p.RequireSigned:
		fmt.Fprintf(w, "Only commits signed by a trusted key are applied.\n")
		fmt.Fprintf(w, "Trusted keys: copied from %s (sha256 %s)\n", p.KeysFrom, p.KeysSHA256)
	default:
		fmt.Fprintf(w, "Signatures are not required: every commit is accepted.\n")
	}
	fmt.Fprintf(w, "Set by %s at %s with %s.\n", p.SetBy, p.SetAt.Format(time.RFC3339), p.SetWith)
	for _, h := range p.History {
		fmt.Fprintf(w, "  before: require_signed=%t by %s at %s with %s\n", h.RequireSigned, h.SetBy, h.SetAt.Format(time.RFC3339), h.SetWith)
	}
	return nil
}
