package githook

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// TestPreReceiveWithoutValidation covers the refusals and passes that
// need no pushed objects: other refs, the branch's deletion, unreadable
// trusted keys.
func TestPreReceiveWithoutValidation(t *testing.T) {
	zero, id := strings.Repeat("0", 40), strings.Repeat("a", 40)
	badKeys := func() (*gitsrc.Policy, error) { return nil, errors.New("no such file") }
	for _, tc := range []struct {
		name, stdin string
		policy      func() (*gitsrc.Policy, error)
		ok          bool
		says        string
	}{
		{"another ref", id + " " + id + " refs/heads/dev\n", nil, true, ""},
		{"deletion", id + " " + zero + " refs/heads/main\n", nil, false, "refusing to delete refs/heads/main"},
		{"unreadable keys", zero + " " + id + " refs/heads/main\n", badKeys, false, "trusted keys cannot be read: no such file"},
	} {
		var stderr strings.Builder
		p := PreReceive{Ref: "refs/heads/main", Validate: []string{"false"}, Policy: tc.policy, Stderr: &stderr}
		ok, err := p.Check(context.Background(), strings.NewReader(tc.stdin))
		if err != nil || ok != tc.ok || !strings.Contains(stderr.String(), tc.says) {
			t.Errorf("%s: ok %v, err %v, stderr %q; want ok %v saying %q", tc.name, ok, err, stderr.String(), tc.ok, tc.says)
		}
	}
}
