package githook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// PokeTimeout bounds the post-receive hook's request: a push never waits
// long for a server that is down.
const PokeTimeout = 2 * time.Second

// PostReceiveScript pokes the server once when ref was updated, and never fails.
func PostReceiveScript(exe, ref, server string) string {
	return `#!/bin/sh
` + Marker + `
# post-receive: ask gitboot serve to apply a push to ` + ref + ` now instead of at its
# next poll. The push has already happened: this hook never fails it.
# Reinstall with ` + "`gitboot hooks install`" + ` rather than editing this file.
gitboot=` + ShQuote(exe) + `
ref=` + ShQuote(ref) + `
server=` + ShQuote(server) + `
updated=
while read -r old new name; do
	if [ "$name" = "$ref" ]; then
		case $new in
		*[!0]*) updated=1 ;; # not a deletion (all zeros)
		esac
	fi
done
if [ -n "$updated" ]; then
	if [ -x "$gitboot" ]; then
		"$gitboot" hooks poke --server "$server" || :
	else
		echo "gitboot: $gitboot not found, so the server at $server was not told (it will notice the push within its poll interval)"
	fi
fi
exit 0
`
}

// ReadUpdate reads the pre-receive hook's "old new refname" lines and
// returns the new commit id of ref ("" when the push leaves ref alone;
// all zeros when it deletes ref).
func ReadUpdate(r io.Reader, ref string) (string, error) {
	sc := bufio.NewScanner(r)
	var newID string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return "", fmt.Errorf("pre-receive: unexpected input line %q", sc.Text())
		}
		if fields[2] == ref {
			newID = fields[1]
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("pre-receive: reading input: %w", err)
	}
	return newID, nil
}

// PokeStatusError is a server that answered a poke, but not with 2xx.
type PokeStatusError struct{ Status string }

func (e PokeStatusError) Error() string { return "POST /reconcile: " + e.Status }

// Poke sends POST {server}/reconcile and expects a 2xx answer (within
// PokeTimeout).
func Poke(ctx context.Context, server string) error {
	return PokeWith(ctx, http.DefaultClient, server)
}

// PokeWith is Poke sent with c (one that adds the admin token).
func PokeWith(ctx context.Context, c *http.Client, server string) error {
	ctx, cancel := context.WithTimeout(ctx, PokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/reconcile", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return PokeStatusError{resp.Status}
	}
	return nil
}

// ValidatePush exports the tree of the pushed commit id (quarantined:
// read with git from the hook's directory and environment) into a
// temporary directory and runs validate there (a command and its
// arguments; "." is appended: the file names stay relative to the
// repository root), its diagnostics on stderr. It reports whether the
// commit is valid (validate exited 0; 1 is invalid; anything else an
// error).
func ValidatePush(ctx context.Context, id string, validate []string, stderr io.Writer) (bool, error) {
	tmp, err := os.MkdirTemp("", "gitboot-pre-receive-")
	if err != nil {
		return false, fmt.Errorf("pre-receive: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := gitsrc.ExportTree(ctx, id, tmp); err != nil {
		return false, fmt.Errorf("pre-receive: exporting %s: %w", id[:min(len(id), 12)], err)
	}
	v := exec.CommandContext(ctx, validate[0], append(validate[1:], ".")...)
	v.Dir = tmp
	v.Stderr = stderr // the diagnostics; stdout only says "Success!" about a temporary directory
	err = v.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("pre-receive: running gitboot validate: %w", err)
}
