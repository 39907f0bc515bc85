package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// policy writes a minimal SELinux policy's file contexts under root.
func policy(t *testing.T, root, fileContexts string) {
	t.Helper()
	dir := filepath.Join(root, "etc/selinux/targeted/contexts/files")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/selinux/config"), []byte("SELINUX=enforcing\nSELINUXTYPE=targeted\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "file_contexts"), []byte(fileContexts), 0o644)
	os.WriteFile(filepath.Join(dir, "file_contexts.subs_dist"), []byte("/sbin /usr/sbin\n"), 0o644)
}

// TestApplyLabels: with SELinux enabled, every file the agent writes gets
// the context the root's policy gives its final path before it is renamed
// into place, and every directory it creates gets its own; <<none>> sets
// nothing.
func TestApplyLabels(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.Symlink("usr/sbin", filepath.Join(root, "sbin"))
	policy(t, root, strings.Join([]string{
		"/.*\tsystem_u:object_r:default_t:s0",
		"/etc/.*\tsystem_u:object_r:etc_t:s0",
		"/etc/shadow.*\t--\tsystem_u:object_r:shadow_t:s0",
		"/usr/sbin/sshd\t--\tsystem_u:object_r:sshd_exec_t:s0",
		"/root/\\.ssh(/.*)?\tsystem_u:object_r:ssh_home_t:s0",
		"/run/.*\t<<none>>",
	}, "\n")+"\n")
	a := newApplier(root, quietLog())
	got := map[string]string{} // final path -> label
	a.labels = &labeler{dir: root, log: quietLog(), set: func(p, label string) error {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		// a temporary file: .NAME.gitboot-agent.XXX
		if base := filepath.Base(rel); strings.HasPrefix(base, ".") && strings.Contains(base, ".gitboot-agent.") {
			rel = filepath.Join(filepath.Dir(rel), strings.TrimPrefix(base[:strings.Index(base, ".gitboot-agent.")], "."))
		}
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("labelled %s, which does not exist", p)
		}
		got[rel] = label
		return nil
	}}
	ents, err := readOverlay(bytes.NewReader(overlayOf(t,
		file("etc/shadow", "root:*:1::::::\n", 0o640),
		file("sbin/sshd", "elf", 0o755),
		dir("root/.ssh", 0o700),
		file("root/.ssh/authorized_keys", "k\n", 0o600),
		file("run/x", "x", 0o644),
	)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.apply(ents, ""); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"run":                       "system_u:object_r:default_t:s0", // created by the agent
		"etc/shadow":                "system_u:object_r:shadow_t:s0",
		"usr/sbin/sshd":             "system_u:object_r:sshd_exec_t:s0",
		"root":                      "system_u:object_r:default_t:s0",
		"root/.ssh":                 "system_u:object_r:ssh_home_t:s0",
		"root/.ssh/authorized_keys": "system_u:object_r:ssh_home_t:s0",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("/%s labelled %q, want %q", p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("/%s labelled %q, want no label", p, got[p])
		}
	}
}

// TestNoSELinuxNoLookup: with SELinux off (these test machines) the
// applier has no labeler and reads no policy.
func TestNoSELinuxNoLookup(t *testing.T) {
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		t.Skip("SELinux is enabled on this machine")
	}
	if l := newLabeler(t.TempDir(), quietLog()); l != nil {
		t.Errorf("a labeler with SELinux off: %+v", l)
	}
	var l *labeler
	l.reload()
	if err := l.label(nil, "etc/x", 0); err != nil {
		t.Error(err)
	}
}
