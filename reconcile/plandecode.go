package reconcile

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DecodePlan parses a saved plan (gitboot plan --out, the body of POST
// /apply); name (its file) prefixes the errors.
func DecodePlan(data []byte, name string) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s is not a saved plan: %w", name, err)
	}
	if !strings.HasPrefix(p.FormatVersion, "1.") || p.Desired == nil || p.Commit == "" {
		return nil, fmt.Errorf("%s is not a saved plan of this gitboot (format_version %q; make it with gitboot plan --out)", name, p.FormatVersion)
	}
	return &p, nil
}
