package power

import (
	"fmt"
	"strings"
)

// ParseTags parses --tag KEY=VALUE flags (power, rollout) into the tags a
// selected node must all have; nil when there are none.
func ParseTags(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	tags := make(map[string]string, len(flags))
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tag %q: expected KEY=VALUE", kv)
		}
		tags[k] = v
	}
	return tags, nil
}
