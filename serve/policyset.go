package serve

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/notes"
)

// SetPolicy is `gitboot policy set`: it records a new signature policy
// (require, the keys file keys) in state and, as a policy record, in the
// note of the applied commit in repo ("": the state's mirror of a remote
// source), and says so on w.
func SetPolicy(w io.Writer, state, repo, keys string, require bool) error {
	inv, _, err := reconcile.ReadInventory(state)
	if err != nil {
		return err
	}
	if repo == "" {
		if mirror := filepath.Join(state, "source"); isDir(mirror) {
			repo = mirror
		}
	}
	if inv != nil && repo == "" {
		return fmt.Errorf("commit %s is applied in %s: give --repo (the repository gitboot serve reads) to record the change in its notes", reconcile.Short(inv.Commit), state)
	}
	var n *notes.Notes
	if inv != nil {
		if n, err = notes.Open(repo); err != nil {
			return err
		}
	}
	old, next, err := reconcile.SetPolicy(state, require, keys, "gitboot policy set")
	if err != nil {
		return err
	}
	if inv != nil {
		rec := notes.Policy(state, next.SetAt, next.RequireSigned, next.KeysSHA256, next.SetBy)
		if err := n.Update(map[string]func([]notes.Record) []notes.Record{inv.Commit: notes.AppendUnique(rec)}, "gitboot policy set"); err != nil {
			return fmt.Errorf("the policy is recorded in %s, but not in the notes of %s: %w", state, repo, err)
		}
		fmt.Fprintf(w, "Recorded in the note of the applied commit %s in %s.\n", reconcile.Short(inv.Commit), repo)
	}
	was := "no policy"
	if old != nil {
		was = fmt.Sprintf("require_signed=%t", old.RequireSigned)
	}
	fmt.Fprintf(w, "Signature policy of %s: require_signed=%t (was %s), set by %s.\n", state, next.RequireSigned, was, next.SetBy)
	fmt.Fprintln(w, "A running gitboot serve on this state keeps the policy it started with: restart it.")
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
