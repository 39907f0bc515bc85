package power

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// ToJSON converts results for printing or sending.
func ToJSON(results []Result) []JSONResult {
	out := make([]JSONResult, len(results))
	for i, r := range results {
		out[i] = JSONResult{Node: r.Node, Power: r.Power, Result: "ok", OK: r.Err == nil}
		if r.Err != nil {
			out[i].Result = r.Err.Error()
		}
	}
	return out
}

// FromJSON converts results received from a server back.
func FromJSON(results []JSONResult) []Result {
	out := make([]Result, len(results))
	for i, r := range results {
		out[i] = Result{Node: r.Node, Power: r.Power}
		if !r.OK {
			out[i].Err = errors.New(r.Result)
		}
	}
	return out
}

// Duration is a time.Duration that is a Go duration string in JSON.
type Duration time.Duration

// MarshalJSON writes d as "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MaxRequestBody bounds the body of POST /power.
const MaxRequestBody = 1 << 20

// Limits a server puts on a request.
const (
	MaxParallel = 1024
	MaxTimeout  = 10 * time.Minute
)

// Handle answers one POST /power body on the server: it selects from
// nodes (the applied state's; nil when nothing is applied yet) with the
// credentials file at credsPath (read on each request, so a changed file
// needs no restart; "" when the server was started without one) and runs
// the action. It returns the HTTP status and the JSON Response.
func Handle(ctx context.Context, nodes []Node, credsPath string, body []byte) (int, []byte) {
	answer := func(code int, r Response) (int, []byte) {
		if r.Results == nil {
			r.Results = []JSONResult{}
		}
		data, _ := json.Marshal(r)
		return code, append(data, '\n')
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return answer(http.StatusBadRequest, Response{Error: "decoding the request: " + err.Error()})
	}
	if _, err := ParseAction(string(req.Action)); err != nil {
		return answer(http.StatusBadRequest, Response{Error: err.Error()})
	}
	if req.Parallel < 0 || req.Parallel > MaxParallel || req.Timeout < 0 || time.Duration(req.Timeout) > MaxTimeout {
		return answer(http.StatusBadRequest, Response{Error: fmt.Sprintf("parallel must be 0 to %d and timeout at most %s", MaxParallel, MaxTimeout)})
	}
	if nodes == nil {
		return answer(http.StatusServiceUnavailable, Response{Error: "the server has applied no commit yet"})
	}
	if credsPath == "" {
		return answer(http.StatusServiceUnavailable, Response{Error: "the server has no BMC credentials: start gitboot serve with --bmc-credentials FILE"})
	}
	creds, diags := LoadCredentials(credsPath)
	if diags.HasErrors() {
		return answer(http.StatusServiceUnavailable, Response{Error: "the server's BMC credentials file: " + diags.Error()})
	}
	targets, err := SelectNodes(nodes, creds, Selection{Names: req.Nodes, All: req.All, Tags: req.Tags})
	if err != nil {
		return answer(http.StatusBadRequest, Response{Error: err.Error()})
	}
	res := Run(ctx, targets, req.Action, Options{Parallel: req.Parallel, Timeout: time.Duration(req.Timeout)})
	return answer(http.StatusOK, Response{Results: ToJSON(res)})
}

// RunRemote asks the server at base (the admin URL) to run req (POST
// /power), with a bearer token if token is not empty, and returns its
// results in node order.
func RunRemote(ctx context.Context, base, token string, req Request) ([]Result, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	base = strings.TrimRight(base, "/")
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/power", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", base, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("asking %s to switch power: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("asking %s to switch power: %w", base, err)
	}
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("asking %s to switch power: %s: %s", base, resp.Status, strings.TrimSpace(string(data)))
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s: %s", base, r.Error)
	}
	return FromJSON(r.Results), nil
}
