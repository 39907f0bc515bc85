package reconcile

import "maps"

// WithRunningVars returns the variables to plan with: given (--var), plus
// each variable the running inventory was applied with that given does
// not set, so `plan --server URL` in CI, without the server's --var
// values, plans what the server would apply. running may be nil.
func WithRunningVars(given map[string]string, running *Inventory) map[string]string {
	out := maps.Clone(given)
	if out == nil {
		out = map[string]string{}
	}
	if running == nil {
		return out
	}
	for k, v := range running.Vars {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	return out
}
