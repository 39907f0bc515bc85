package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/serve/client"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// TestServeAdminNeedsToken: serve refuses a non-loopback --listen-admin
// without a token, and a token file that is too short, before it does
// anything else.
func TestServeAdminNeedsToken(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen-admin", "0.0.0.0:0"}, "--listen-admin 0.0.0.0:0 is not a loopback address: give --admin-token-file"},
		{[]string{"--listen-admin", "10.99.0.1:9875"}, "is not a loopback address"},
		{[]string{"--listen-admin", "127.0.0.1:0", "--admin-token-file", short}, "want one line of at least 16 characters"},
		{[]string{"--admin-token-file", filepath.Join(t.TempDir(), "missing")}, "--admin-token-file: open"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--repo", t.TempDir(), "--state", t.TempDir()}, tc.args...)
		if code := runWith(args, &out, &errb); code != 1 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d: %s; want %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestStatusWithAdminToken: the clients send the token of
// --admin-token-file (or $GITBOOT_ADMIN_TOKEN_FILE); without it an admin
// listener with a token answers 401.
func TestStatusWithAdminToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := httpboot.New(httpboot.Config{Status: status.NewMemory()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeAdmin(ctx, ln, token) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String()
	if code, _, errOut := statusExec("--server", url); code != 1 || !strings.Contains(errOut, "401") || !strings.Contains(errOut, "--admin-token-file FILE or $"+client.TokenEnv) {
		t.Fatalf("without the token: exit %d: %s", code, errOut)
	}
	if code, _, errOut := statusExec("--server", url, "--admin-token-file", file); code != 0 {
		t.Fatalf("--admin-token-file: exit %d: %s", code, errOut)
	}
	t.Setenv(client.TokenEnv, file)
	if code, _, errOut := statusExec("--server", url); code != 0 {
		t.Fatalf("$%s: exit %d: %s", client.TokenEnv, code, errOut)
	}
}
