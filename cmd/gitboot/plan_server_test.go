package main

import (
	"testing"

	"github.com/spf13/pflag"

	"github.com/gitboot/gitboot/serve"
)

// TestClientsDefaultToAdminListener: plan, status and discover ask serve's
// admin listener (127.0.0.1:9875) unless told otherwise; plan reads a
// state directory only when --state is given.
func TestClientsDefaultToAdminListener(t *testing.T) {
	const want = "http://" + serve.DefaultListenAdmin
	if want != "http://127.0.0.1:9875" {
		t.Fatalf("serve's admin listener defaults to %s, want 127.0.0.1:9875", serve.DefaultListenAdmin)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, want},
		{[]string{"--state", t.TempDir()}, ""},
		{[]string{"--server", "http://192.0.2.1:9875"}, "http://192.0.2.1:9875"},
		{[]string{"--state", "/x", "--server", "http://192.0.2.1:9875"}, "http://192.0.2.1:9875"},
	} {
		cmd := newPlanCmd()
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		var f planFlags
		f.server, _ = cmd.Flags().GetString("server")
		if got := planServer(cmd, f); got != tc.want {
			t.Errorf("plan %v asks %q, want %q", tc.args, got, tc.want)
		}
	}
	for _, c := range []struct {
		name string
		def  string
	}{
		{"status", flagDefault(t, newStatusCmd().Flags().Lookup("server"))},
		{"discover", flagDefault(t, newDiscoverCmd().Flags().Lookup("server"))},
		{"serve --listen-admin", "http://" + flagDefault(t, newServeCmd().Flags().Lookup("listen-admin"))},
	} {
		if c.def != want {
			t.Errorf("%s defaults to %q, want %q", c.name, c.def, want)
		}
	}
}

func flagDefault(t *testing.T, f *pflag.Flag) string {
	t.Helper()
	if f == nil {
		t.Fatal("no such flag")
	}
	return f.DefValue
}
