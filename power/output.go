package power

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteTable prints results as the `gitboot power` table:
//
//	NODE    POWER    RESULT
//	c001    on       ok
func WriteTable(w io.Writer, results []Result) error {
	width := len("NODE")
	for _, r := range results {
		width = max(width, len(r.Node))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %-7s  %s\n", width, "NODE", "POWER", "RESULT")
	for _, r := range results {
		res := "ok"
		if r.Err != nil {
			res = "FAILED: " + strings.ReplaceAll(r.Err.Error(), "\n", " ")
		}
		fmt.Fprintf(&b, "%-*s  %-7s  %s\n", width, r.Node, r.Power, res)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints results as `gitboot power --json` does: an object with
// the action, the results (node, power, result, ok) and the failure count.
func WriteJSON(w io.Writer, action Action, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Action  Action       `json:"action"`
		Results []JSONResult `json:"results"`
		Failed  int          `json:"failed"`
	}{action, ToJSON(results), Failed(results)})
}
