package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Call sends one request to a server's /rollout (base is its URL) with c
// and decodes the progress it answers (or its error).
func Call(ctx context.Context, c *http.Client, method, base string, body []byte) (*Progress, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/rollout", rd)
	if err != nil {
		return nil, fmt.Errorf("rollout on %s: %w", base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rollout on %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("rollout on %s: %w", base, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("rollout on %s: %s", base, e.Error)
		}
		return nil, fmt.Errorf("rollout on %s: %s: %s", base, resp.Status, strings.TrimSpace(string(data)))
	}
	var p Progress
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("rollout on %s: decoding: %w", base, err)
	}
	return &p, nil
}
