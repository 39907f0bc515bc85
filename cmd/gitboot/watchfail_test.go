package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a log sink serve's stderr and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeWatchFailureFallsBackToPolling runs a real gitboot serve whose
// ref watch cannot start: it runs in a user and network namespace of its
// own whose inotify limit (user.max_inotify_instances) is 0, as a host at
// the limit is. serve logs the failure, keeps HTTP, the admin listener (and DHCP, TFTP)
// running and still notices a new commit (--poll 0: the fallback's own
// polling, nothing else).
func TestServeWatchFailureFallsBackToPolling(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (a user and network namespace)")
		}
		t.Skip("needs root: it runs serve in a user and network namespace of its own")
	}
	for _, tool := range []string{"unshare", "nsenter", "curl", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (packages util-linux, curl, iproute2): %v", tool, err)
		}
	}
	e := newCLIEnv(t)
	bin := buildGitboot(t)
	if out, err := exec.Command("go", "build", "-o", filepath.Dir(bin), "../gitboot-agent").CombinedOutput(); err != nil {
		t.Fatalf("building gitboot-agent: %v\n%s", err, out)
	}
	script := `ip link set lo up && echo 0 > /proc/sys/user/max_inotify_instances && exec "$@"`
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--net", "--", "sh", "-c", script, "sh",
		bin, "serve", "--repo", e.repo, "--state", e.state, "--var", "image="+e.image, "--image-root", filepath.Dir(e.image),
		"--listen-http", "127.0.0.1:18080", "--listen-admin", "127.0.0.1:18075", "--listen-tftp", "127.0.0.1:18069", "--notes=false", "--poll", "0")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once serve exited (waitErr set)
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !ok() {
			select {
			case <-exited:
				t.Fatalf("serve exited (%v) before %s:\n%s", waitErr, what, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 90s:\n%s", what, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	servedCommit := func() string {
		out, err := exec.Command("nsenter", "--target", strconv.Itoa(cmd.Process.Pid), "--net", "--",
			"curl", "-sf", "--max-time", "5", "http://127.0.0.1:18075/inventory").Output()
		if err != nil {
			return ""
		}
		var inv struct {
			Commit string `json:"commit"`
		}
		if json.Unmarshal(out, &inv) != nil {
			return ""
		}
		return inv.Commit
	}
	first := e.git("rev-parse", "HEAD")
	waitFor("watch failure logged", func() bool { return strings.Contains(logs.String(), "polling the ref instead") })
	waitFor("HTTP serving the first commit", func() bool { return servedCommit() == first })
	second := e.commit(map[string]string{"overlays/generic/etc/motd": "polled\n"}, "second")
	waitFor("the new commit noticed by polling and served", func() bool { return servedCommit() == second })
	if !strings.Contains(logs.String(), "too many open files") && !strings.Contains(logs.String(), "inotify") {
		t.Errorf("the log does not say why the watch failed:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("serve stopped:\n%s", logs.String())
	}
}
