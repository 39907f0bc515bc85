package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plant runs fn between the checks of the next applies and their writes.
func plant(t *testing.T, fn func(root string)) {
	afterCheck = fn
	t.Cleanup(func() { afterCheck = nil })
}

// TestPlantedLinkNotFollowed: a user who owns a directory the overlay
// writes into replaces it by a symlink after the agent checked the path
// and before it writes. The write fails; nothing lands where the link
// points: a file inside the root (etc/, the node's own /etc when the root
// is /) or outside it.
func TestPlantedLinkNotFollowed(t *testing.T) {
	for _, target := range []string{"inside", "outside"} {
		t.Run(target, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "home/alice/.ssh"), 0o700)
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:x:\n"), 0o600)
			victim, link := filepath.Join(root, "etc"), "../../etc" // a relative link: inside the root
			if target == "outside" {
				victim = t.TempDir()
				link = victim
				os.WriteFile(filepath.Join(victim, "shadow"), []byte("root:x:\n"), 0o600)
			}
			plant(t, func(root string) {
				ssh := filepath.Join(root, "home/alice/.ssh")
				if err := os.RemoveAll(ssh); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(link, ssh); err != nil {
					t.Fatal(err)
				}
			})
			_, err := applyArchive(t, root, overlayOf(t, file("home/alice/.ssh/shadow", "alice::0:0:\n", 0o600)), "")
			if err == nil {
				t.Fatal("the apply through a planted link succeeded")
			}
			if b, _ := os.ReadFile(filepath.Join(victim, "shadow")); string(b) != "root:x:\n" {
				t.Fatalf("written through the planted link: %s/shadow holds %q", victim, b)
			}
			ents, _ := os.ReadDir(victim)
			for _, e := range ents {
				if e.Name() != "shadow" {
					t.Errorf("left %s in the link's target", e.Name())
				}
			}
		})
	}
}

// TestChmodNotThroughLink: a directory the overlay declares (and so
// chmods) is replaced by a link to a 0600 file after the check: its mode
// stays 0600.
func TestChmodNotThroughLink(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "srv/data"), 0o700)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	shadow := filepath.Join(root, "etc/shadow")
	os.WriteFile(shadow, []byte("root:x:\n"), 0o600)
	plant(t, func(root string) {
		d := filepath.Join(root, "srv/data")
		os.RemoveAll(d)
		if err := os.Symlink("../etc/shadow", d); err != nil {
			t.Fatal(err)
		}
	})
	_, err := applyArchive(t, root, overlayOf(t, dir("srv/data", 0o777)), "")
	fi, serr := os.Stat(shadow)
	if serr != nil {
		t.Fatal(serr)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("etc/shadow is %v after a chmod through a link (err %v)", fi.Mode().Perm(), err)
	}
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("err = %v, want one naming the symlink", err)
	}
}

// TestPostApplyTimeoutKillsGroup: a post_apply whose subshell leaves
// `sleep 1000` running in the background, and that itself runs past the
// timeout, is killed with all it started.
func TestPostApplyTimeoutKillsGroup(t *testing.T) {
	old := postApplyTimeout
	postApplyTimeout = 500 * time.Millisecond
	defer func() { postApplyTimeout = old }()
	pidFile := filepath.Join(t.TempDir(), "pid")
	a := &agent{cfg: &config{root: "/"}, log: slog.New(slog.DiscardHandler)}
	start := time.Now()
	a.postApply(context.Background(), overlayInfo{Overlay: "x", PostApply: "(sleep 1000 & echo $! > " + pidFile + "); sleep 1000"})
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("post_apply returned after %v", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the background sleep (pid %d) survived the post_apply timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie is dead).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
