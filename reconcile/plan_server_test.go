package reconcile

import (
	"slices"
	"strings"
	"testing"
)

// Server settings running nodes carry from their boot (the URL in their
// kernel command line, the agent's interval and secure mode) need every
// running node rebooted when they change; other server settings do not.
func TestDiffServerSettingsNeedReboot(t *testing.T) {
	state := func(edit func(*ServerState)) *Inventory {
		inv := &Inventory{
			Version: InventoryVersion, Commit: strings.Repeat("a", 40),
			Server: ServerState{Name: "head", Address: "10.0.0.1", HTTPPort: 9873, TFTPPort: 69, RuntimeInterval: "1m0s"},
			Nodes: map[string]NodeState{
				"c1": {MAC: "02:00:00:00:00:01", Image: "img", SystemInput: "s", RuntimeInput: "r"},
				"c2": {MAC: "02:00:00:00:00:02", Image: "img", SystemInput: "s", RuntimeInput: "r"},
			},
		}
		if edit != nil {
			edit(&inv.Server)
		}
		return inv
	}
	tests := []struct {
		name   string
		edit   func(*ServerState)
		reboot bool
	}{
		{"address", func(s *ServerState) { s.Address = "10.0.0.2" }, true},
		{"http_port", func(s *ServerState) { s.HTTPPort = 8080 }, true},
		{"runtime_interval", func(s *ServerState) { s.RuntimeInterval = "5m0s" }, true},
		{"secure_runtime", func(s *ServerState) { s.SecureRuntime = true }, true},
		{"tftp_port", func(s *ServerState) { s.TFTPPort = 1069 }, false},
		{"auto_apply", func(s *ServerState) { s.AutoApply = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Diff(state(nil), state(tt.edit), "")
			want := []string{}
			if tt.reboot {
				want = []string{"c1", "c2"}
			}
			if !slices.Equal(p.NeedsReboot, want) {
				t.Errorf("needs reboot %v, want %v", p.NeedsReboot, want)
			}
			if p.Summary.Change != 1 {
				t.Errorf("summary %+v, want the server changed", p.Summary)
			}
		})
	}
	// Nothing ran before: nothing to reboot.
	if p := Diff(nil, state(nil), ""); len(p.NeedsReboot) != 0 {
		t.Errorf("first apply needs reboot %v", p.NeedsReboot)
	}
}
