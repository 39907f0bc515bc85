package gitsrc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultRemoteTimeout bounds one fetch or push of a remote source.
const DefaultRemoteTimeout = 60 * time.Second

// RemoteOptions says how to reach a remote repository. Fetches and notes
// pushes run the git command (git fetch, git push) with these credentials,
// bounded by Timeout; the command and its helpers (ssh, git-remote-https)
// are killed as a process group when it passes.
type RemoteOptions struct {
	// SSHKey is the private key for ssh:// and scp-like URLs (ssh -i,
	// IdentitiesOnly); "": ssh's defaults.
	SSHKey string
	// KnownHosts is the known_hosts file the server's host key must be in
	// (StrictHostKeyChecking=yes); "": ssh's defaults (~/.ssh/known_hosts).
	KnownHosts string
	// TokenFile holds the token for https:// URLs, sent as the header
	// "Authorization: Bearer TOKEN" (or the file's line as is when it
	// starts with a scheme, e.g. "Basic dXNlcjp0b2tlbg=="). It is read at
	// each fetch (a rotated token is picked up) and handed to git through
	// GIT_CONFIG_COUNT/KEY/VALUE in the environment, never on a command
	// line (which ps shows to every user).
	TokenFile string
	// Timeout bounds one fetch or push; 0: DefaultRemoteTimeout.
	Timeout time.Duration
}

// Check reads the files the options name, so a typo fails at start.
func (o RemoteOptions) Check() error {
	for _, f := range []struct{ flag, path string }{{"--git-ssh-key", o.SSHKey}, {"--git-known-hosts", o.KnownHosts}, {"--git-token-file", o.TokenFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	if o.TokenFile != "" {
		if _, err := o.authHeader(); err != nil {
			return err
		}
	}
	if o.Timeout < 0 {
		return fmt.Errorf("--git-timeout %v: must not be negative", o.Timeout)
	}
	return nil
}

func (o RemoteOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultRemoteTimeout
	}
	return o.Timeout
}

// authHeader is the Authorization header the token file makes.
func (o RemoteOptions) authHeader() (string, error) {
	data, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return "", fmt.Errorf("--git-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	switch {
	case tok == "":
		return "", fmt.Errorf("--git-token-file %s is empty", o.TokenFile)
	case strings.ContainsAny(tok, "\r\n"):
		return "", fmt.Errorf("--git-token-file %s: more than one line", o.TokenFile)
	case strings.Contains(tok, " "):
		return "Authorization: " + tok, nil
	}
	return "Authorization: Bearer " + tok, nil
}

// shellQuote quotes s for the shell git runs GIT_SSH_COMMAND with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// env is the environment of a git command for these options.
func (o RemoteOptions) env() ([]string, error) {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
			"GIT_QUARANTINE_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT":
			continue
		}
		if strings.HasPrefix(name, "GIT_CONFIG_KEY_") || strings.HasPrefix(name, "GIT_CONFIG_VALUE_") {
			continue
		}
		env = append(env, kv)
	}
	// Never wait for a password or a passphrase nobody will type.
	env = append(env, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false")
	secs := strconv.Itoa(max(1, int(o.timeout().Seconds())))
	ssh := []string{"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=" + secs, "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=2"}
	if o.SSHKey != "" {
		ssh = append(ssh, "-i", shellQuote(o.SSHKey), "-o", "IdentitiesOnly=yes")
	}
	if o.KnownHosts != "" {
		ssh = append(ssh, "-o", "UserKnownHostsFile="+shellQuote(o.KnownHosts), "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null")
	}
	env = append(env, "GIT_SSH_COMMAND="+strings.Join(ssh, " "))
	cfg := [][2]string{{"gc.auto", "0"}, {"maintenance.auto", "false"}, {"http.lowSpeedLimit", "1"}, {"http.lowSpeedTime", secs}}
	if o.TokenFile != "" {
		h, err := o.authHeader()
		if err != nil {
			return nil, err
		}
		cfg = append(cfg, [2]string{"http.extraHeader", h})
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(cfg)))
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env, nil
}

// RunGit runs `git ARGS` in dir against a remote with the options'
// credentials, killed with its helpers after the timeout. The error holds
// git's stderr.
func (o RemoteOptions) RunGit(ctx context.Context, dir string, args ...string) error {
	env, err := o.env()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(stderr.String())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("git %s: no answer within %v (--git-timeout): %w", args[0], o.timeout(), context.DeadlineExceeded)
	}
	if msg != "" {
		return fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return fmt.Errorf("git %s: %w", args[0], err)
}
