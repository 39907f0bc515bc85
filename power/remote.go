package power

import (
	"context"
	"time"
)

// Request is the JSON body of the server's POST /power (admin listener,
// from the server's own host only): the server selects the nodes from its
// applied cluster, uses its own credentials file, and answers a Response.
type Request struct {
	Action   Action            `json:"action"`
	Nodes    []string          `json:"nodes,omitempty"`
	All      bool              `json:"all,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Parallel int               `json:"parallel,omitempty"`
	Timeout  Duration          `json:"timeout,omitempty"`
}

// Response is the JSON answer of POST /power. Error is set when the
// request as a whole failed (bad selection, no credentials file); then
// Results is empty.
type Response struct {
	Results []JSONResult `json:"results"`
	Error   string       `json:"error,omitempty"`
}

// JSONResult is a Result as JSON (and as `gitboot power --json` prints it).
type JSONResult struct {
	Node   string `json:"node"`
	Power  string `json:"power"`
	Result string `json:"result"` // "ok" or the error
	OK     bool   `json:"ok"`
}

// Duration is a time.Duration that is a Go duration string in JSON.
type Duration time.Duration

// RunRemote asks the server at base (the admin URL) to run req, with the
// bearer token if not empty, and returns its results in node order.
func RunRemote(ctx context.Context, base, token string, req Request) ([]Result, error) {
	return nil, ErrNotImplemented
}
