// Package benchrepo writes the generated repositories and stand-in images
// the reconcile benchmarks (bench/plan, bench/apply) run on. It is for
// those commands only.
package benchrepo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// WriteFiles writes files (slash paths relative to dir) under dir.
func WriteFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteImage writes a stand-in image directory: a kernel file
// (boot/vmlinuz-6.1.0-1-amd64) and sbin/init.
func WriteImage(dir string) error {
	for _, d := range []string{"boot", "sbin", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-6.1.0-1-amd64"), []byte("kernel"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sbin", "init"), []byte("#!/bin/sh\n"), 0o755)
}

// Git runs git in dir with a fixed identity and no global configuration.
func Git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.org",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.org", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v\n%s", args, err, out)
	}
	return nil
}

// Base returns the files both generated repositories start with: a
// cluster.hcl with a required variable image_source, a server, network
// "cluster" (subnet given), image "compute", the overlays "generic" (a
// directory with a template) and "hostname" (builtin); callers append
// their profile and nodes to cluster.hcl or add files.
func Base(subnet string) map[string]string {
	return map[string]string{
		"cluster.hcl": `variable "image_source" {
  type = string
}

server "head" {
  address = "10.0.0.1"
}

network "cluster" {
  subnet  = "` + subnet + `"
  gateway = "10.0.0.1"
  domain  = "cluster.local"
}

image "compute" {
  source = var.image_source
}

overlay "generic" {
  source = "overlays/generic"
}

overlay "hostname" {
  builtin = "hostname"
}
`,
		"overlays/generic/etc/motd.tmpl": "Welcome to {{ .Node.Name }} ({{ .Node.IP }})\n",
		"overlays/generic/etc/issue":     "gitboot bench\n",
	}
}
