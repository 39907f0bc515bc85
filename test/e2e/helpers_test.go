// Package e2e holds end-to-end tests: the gitboot binary serving a real git
// repository inside network namespaces, exercised by real clients (dhclient,
// tftp, curl, cpio) and, later, real iPXE boots in QEMU.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// gitbootBinary builds ./cmd/gitboot once per test run, and next to it
// ./cmd/gitboot-agent (static, stripped: as `make build` does), which
// gitboot serve puts into every system overlay.
func gitbootBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gitboot-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gitboot")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/gitboot")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
			return
		}
		cmd = exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "gitboot-agent"), "./cmd/gitboot-agent")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building gitboot: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// agentBinary returns the gitboot-agent built next to gitbootBinary.
func agentBinary(t *testing.T) string {
	t.Helper()
	return filepath.Join(filepath.Dir(gitbootBinary(t)), "gitboot-agent")
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// git runs git in dir with a fixed identity.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.org",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// copyTree copies a directory tree (regular files and directories).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// labRepo makes a git repository (a work tree whose branch main holds
// examples/lab) and returns its path.
func labRepo(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "lab")
	copyTree(t, filepath.Join(repoRoot(), "examples", "lab"), repo)
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "lab cluster")
	return repo
}

// tinyImage makes an image tree: busybox as /sbin/init and a stand-in
// kernel file (the HTTP path serves it; booting it is the QEMU tests' job).
func tinyImage(t *testing.T) (dir string, kernel []byte) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "image")
	for _, d := range []string{"boot", "bin", "sbin", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	kernel = []byte("not a real kernel: e2e stand-in\n")
	if err := os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-6.1.0-99-amd64"), kernel, 0o644); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed for the test image: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../bin/busybox", filepath.Join(dir, "sbin", "init")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("NAME=e2e\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, kernel
}
