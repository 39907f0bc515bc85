package gitsrc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/gitboot/gitboot/reconcile/notes"
)

var testGitEnv = []string{"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=T",
	"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}

func mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), testGitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// upstream makes a bare repository with one commit on main under dir and
// returns its path and the commit.
func upstream(t *testing.T, dir string) (string, string) {
	t.Helper()
	work, bare := filepath.Join(dir, "work"), filepath.Join(dir, "cluster.git")
	mustRun(t, dir, "git", "init", "-q", "--bare", "-b", "main", bare)
	mustRun(t, dir, "git", "init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "main.hcl"), []byte("# cluster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, work, "git", "add", "-A")
	mustRun(t, work, "git", "commit", "-q", "-m", "first")
	mustRun(t, work, "git", "push", "-q", bare, "main")
	return bare, mustRun(t, work, "git", "rev-parse", "HEAD")
}

// wrapOnPath puts a script named name first on PATH; it logs its
// arguments to the returned file and runs exec (a command line prefix)
// with them.
func wrapOnPath(t *testing.T, name, exec string) string {
	t.Helper()
	bin := t.TempDir()
	log := filepath.Join(bin, name+".argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + log + "'\nexec " + exec + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	return log
}

// TestRemoteTokenHTTPBackend clones, fetches and pushes notes through a
// real git http-backend (net/http/cgi) that wants a bearer token: with
// --git-token-file it works, without or with a wrong one it is refused,
// and the token never appears on a git command line.
func TestRemoteTokenHTTPBackend(t *testing.T) {
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	execPath := mustRun(t, "", "git", "--exec-path")
	dir := t.TempDir()
	bare, head := upstream(t, dir)
	const token = "s3cret-t0ken"
	backend := &cgi.Handler{Path: filepath.Join(execPath, "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=gitboot"}}
	var sawToken int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		sawToken++
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/cluster.git"
	argv := wrapOnPath(t, "git", realGit)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, opts := range []gitsrc.RemoteOptions{{}, {TokenFile: wrong}} {
		if _, err := gitsrc.OpenRemote(ctx, url, filepath.Join(t.TempDir(), "mirror"), opts); err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "Authentication") && !strings.Contains(err.Error(), "could not read Username") {
			t.Errorf("clone with %+v: %v; want it refused by the server", opts, err)
		}
	}
	opts := gitsrc.RemoteOptions{TokenFile: tokenFile, Timeout: 20 * time.Second}
	mirror := filepath.Join(t.TempDir(), "mirror")
	src, err := gitsrc.OpenRemote(ctx, url, mirror, opts)
	if err != nil {
		t.Fatalf("clone with the token: %v", err)
	}
	if c, err := src.Resolve("main"); err != nil || c.Hash != head {
		t.Fatalf("main of the clone: %v, %v; want %s", c, err, head)
	}
	// Notes pushed back with the same token.
	n, err := notes.Open(mirror)
	if err != nil {
		t.Fatal(err)
	}
	n.Remote = opts
	rec := notes.Apply("head", time.Now(), notes.ResultApplied, 1, 0, 0)
	if err := n.Update(map[string]func([]notes.Record) []notes.Record{head: notes.AppendUnique(rec)}, "gitboot: applied"); err != nil {
		t.Fatal(err)
	}
	if err := n.Push(ctx, url); err != nil {
		t.Fatalf("pushing notes with the token: %v", err)
	}
	if got := mustRun(t, bare, "git", "notes", "--ref=gitboot", "show", head); got != rec.String() {
		t.Errorf("the pushed note: %q, want %q", got, rec.String())
	}
	if sawToken == 0 {
		t.Error("the server never saw the token")
	}
	logged, err := os.ReadFile(argv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "fetch") || !strings.Contains(string(logged), "push") {
		t.Errorf("git was not run for fetch and push through PATH:\n%s", logged)
	}
	if strings.Contains(string(logged), token) {
		t.Errorf("the token is on a git command line:\n%s", logged)
	}
}

// TestRemoteStalledServerTimesOut: a server that accepts connections and
// never answers (https and ssh) makes the fetch fail after --git-timeout,
// with the git processes gone.
func TestRemoteStalledServerTimesOut(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // accepted, never answered
		}
	}()
	for _, url := range []string{
		"http://" + l.Addr().String() + "/cluster.git",
		"ssh://git@127.0.0.1:" + strings.TrimPrefix(l.Addr().String(), "127.0.0.1:") + "/cluster.git",
	} {
		start := time.Now()
		_, err := gitsrc.OpenRemote(context.Background(), url, filepath.Join(t.TempDir(), "mirror"), gitsrc.RemoteOptions{Timeout: 2 * time.Second})
		took := time.Since(start)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "--git-timeout") {
			t.Errorf("clone of %s from a stalled server: %v; want a timeout", url, err)
		}
		if took > 15*time.Second {
			t.Errorf("clone of %s from a stalled server took %v with --git-timeout 2s", url, took)
		}
	}
}

// sshServer is a real sshd listening on 127.0.0.1:22 in a network
// namespace of its own, which the ssh git runs reaches.
type sshServer struct {
	keys       string // directory of the keys: client (authorized), other (not)
	known      string // known_hosts with the server's host key
	otherKnown string // known_hosts with another key for 127.0.0.1
	logs       *netnstest.SyncBuffer
	argv       string // where the ssh wrapper logs its arguments
}

// startSSHD starts sshd (skipping when it is not installed, outside CI)
// with fresh host and client keys, and puts on PATH an ssh that runs the
// real one inside its namespace.
func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs /usr/sbin/sshd (Debian package openssh-server)")
		}
		t.Skip("needs /usr/sbin/sshd (Debian package openssh-server)")
	}
	realSSH, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/sshd"); err != nil {
		// sshd's privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove("/run/sshd") })
	}
	keys := t.TempDir()
	mustRun(t, keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "host")
	mustRun(t, keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "client")
	mustRun(t, keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "other")
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(keys, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	write := func(name, data string) string {
		p := filepath.Join(keys, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	auth := write("authorized_keys", read("client.pub")+"\n")
	known := write("known_hosts", "127.0.0.1 "+read("host.pub")+"\n")
	otherKnown := write("other_known_hosts", "127.0.0.1 "+read("other.pub")+"\n")
	cfg := write("sshd_config", strings.Join([]string{
		"Port 22", "ListenAddress 127.0.0.1", "HostKey " + filepath.Join(keys, "host"), "AuthorizedKeysFile " + auth,
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
		"StrictModes no", "UsePAM no", "PidFile none", "LogLevel VERBOSE", "",
	}, "\n"))
	ns := netnstest.New(t, "sshd")
	_, logs := ns.Start(t, sshd, "-D", "-e", "-f", cfg)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "Server listening") {
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// git runs ssh (GIT_SSH_COMMAND) from PATH: this ssh runs the real one
	// inside the namespace, where sshd listens on 127.0.0.1.
	argv := wrapOnPath(t, "ssh", "ip netns exec "+ns.Name+" "+realSSH)
	return &sshServer{keys: keys, known: known, otherKnown: otherKnown, logs: logs, argv: argv}
}

// TestRemoteSSHKeyKnownHosts clones, fetches and pushes notes over ssh
// to a real sshd (Debian's openssh-server) in a network namespace, with
// --git-ssh-key and --git-known-hosts; a known_hosts without the server's
// key refuses it.
func TestRemoteSSHKeyKnownHosts(t *testing.T) {
	netnstest.Require(t)
	netnstest.RequireCommands(t, "git", "ssh", "ssh-keygen")
	srv := startSSHD(t)
	keys, known, otherKnown, logs, argv := srv.keys, srv.known, srv.otherKnown, srv.logs, srv.argv
	bare, head := upstream(t, t.TempDir())

	url := "ssh://root@127.0.0.1" + bare
	ctx := context.Background()
	if _, err := gitsrc.OpenRemote(ctx, url, filepath.Join(t.TempDir(), "mirror"), gitsrc.RemoteOptions{SSHKey: filepath.Join(keys, "client"), KnownHosts: otherKnown}); err == nil || !strings.Contains(err.Error(), "Host key verification failed") {
		t.Errorf("clone with a known_hosts lacking the server's key: %v; want host key verification to fail", err)
	}
	if _, err := gitsrc.OpenRemote(ctx, url, filepath.Join(t.TempDir(), "mirror"), gitsrc.RemoteOptions{SSHKey: filepath.Join(keys, "other"), KnownHosts: known}); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("clone with an unauthorized key: %v; want it refused", err)
	}
	opts := gitsrc.RemoteOptions{SSHKey: filepath.Join(keys, "client"), KnownHosts: known, Timeout: 30 * time.Second}
	mirror := filepath.Join(t.TempDir(), "mirror")
	src, err := gitsrc.OpenRemote(ctx, url, mirror, opts)
	if err != nil {
		t.Fatalf("clone over ssh: %v\nsshd:\n%s", err, logs.String())
	}
	if c, err := src.Resolve("main"); err != nil || c.Hash != head {
		t.Fatalf("main of the clone: %v, %v; want %s", c, err, head)
	}
	if err := src.Fetch(ctx); err != nil {
		t.Fatalf("fetch over ssh: %v", err)
	}
	n, err := notes.Open(mirror)
	if err != nil {
		t.Fatal(err)
	}
	n.Remote = opts
	rec := notes.Apply("head", time.Now(), notes.ResultApplied, 1, 0, 0)
	if err := n.Update(map[string]func([]notes.Record) []notes.Record{head: notes.AppendUnique(rec)}, "gitboot: applied"); err != nil {
		t.Fatal(err)
	}
	if err := n.Push(ctx, url); err != nil {
		t.Fatalf("pushing notes over ssh: %v", err)
	}
	if got := mustRun(t, bare, "git", "notes", "--ref=gitboot", "show", head); got != rec.String() {
		t.Errorf("the pushed note: %q, want %q", got, rec.String())
	}
	logged, _ := os.ReadFile(argv)
	if !strings.Contains(string(logged), "IdentitiesOnly=yes") || !strings.Contains(string(logged), "UserKnownHostsFile="+known) {
		t.Errorf("ssh did not get the key and known_hosts options:\n%s", logged)
	}
}
