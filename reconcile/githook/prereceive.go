package githook

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
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
	ctx, cancel := context.WithTimeout(ctx, PokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/reconcile", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
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
