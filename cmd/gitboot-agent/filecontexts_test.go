package main

import (
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// debianPolicy is the file contexts of Debian's selinux-policy-default
// (apt-get install selinux-policy-default; .ci/run installs it).
const debianPolicy = "/etc/selinux/default/contexts/files"

func loadDebianPolicy(t *testing.T) *fileContexts {
	t.Helper()
	if _, err := os.Stat(debianPolicy + "/file_contexts"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must install selinux-policy-default", err)
		}
		t.Skipf("%v (apt-get install selinux-policy-default)", err)
	}
	fc, err := loadFileContexts(debianPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return fc
}

// TestFileContextsDebianPolicy looks paths up in a real policy's
// file_contexts, its .homedirs and its path aliases.
func TestFileContextsDebianPolicy(t *testing.T) {
	fc := loadDebianPolicy(t)
	cases := []struct {
		path string
		typ  fs.FileMode
		want string
	}{
		{"/etc/shadow", 0, "system_u:object_r:shadow_t:s0"},
		{"/etc/motd", 0, "system_u:object_r:etc_t:s0"},
		{"/usr/sbin/sshd", 0, "system_u:object_r:sshd_exec_t:s0"},
		{"/sbin/sshd", 0, "system_u:object_r:sshd_exec_t:s0"}, // alias /sbin -> /usr/sbin
		{"/root/.ssh/authorized_keys", 0, "unconfined_u:object_r:ssh_home_t:s0"},
		{"/root/.ssh", fs.ModeDir, "unconfined_u:object_r:ssh_home_t:s0"},
		{"/etc/hosts", 0, "system_u:object_r:net_conf_t:s0"},
		{"/etc/ssh/ssh_host_ed25519_key", 0, "system_u:object_r:sshd_key_t:s0"},
		{"/etc/ssh/ssh_host_ed25519_key", fs.ModeDir, "system_u:object_r:etc_t:s0"}, // the spec is for files
		{"/bin/bash", 0, "system_u:object_r:shell_exec_t:s0"},
		{"/etc/systemd/system/gitboot-agent.service", 0, "system_u:object_r:systemd_unit_t:s0"},
		{"/usr/lib/gitboot/gitboot-agent", 0, "system_u:object_r:lib_t:s0"},
		{"/run/anything", 0, ""}, // <<none>>
	}
	for _, c := range cases {
		if got := fc.lookup(c.path, c.typ); got != c.want {
			t.Errorf("lookup(%s, %v) = %q, want %q", c.path, c.typ, got, c.want)
		}
	}
}

// TestFileContextsMatchLibselinux compares lookups with libselinux's own
// (matchpathcon, from selinux-utils, which selinux-policy-default
// depends on) for the paths a node's overlays write.
func TestFileContextsMatchLibselinux(t *testing.T) {
	fc := loadDebianPolicy(t)
	if _, err := exec.LookPath("matchpathcon"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("matchpathcon missing: CI must install selinux-policy-default (it depends on selinux-utils)")
		}
		t.Skip("matchpathcon missing (apt-get install selinux-utils)")
	}
	if data, err := os.ReadFile("/etc/selinux/config"); err != nil || !strings.Contains(string(data), "SELINUXTYPE=default") {
		if os.Getenv("CI") == "true" {
			t.Fatal("/etc/selinux/config does not select the default policy (selinux-policy-default writes it)")
		}
		t.Skip("/etc/selinux/config does not select the default policy, which matchpathcon would read")
	}
	paths := []string{
		"/etc/shadow", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
		"/etc/munge/munge.key", "/etc/ssh/sshd_config", "/etc/ssh/ssh_host_rsa_key.pub", "/etc/sudoers",
		"/etc/sudoers.d/admins", "/etc/fstab", "/etc/motd", "/etc/crontab", "/etc/cron.d/job",
		"/etc/systemd/network/10-eth0.network", "/etc/NetworkManager/system-connections/eth0.nmconnection",
		"/etc/network/interfaces", "/etc/slurm/slurm.conf", "/etc/chrony/chrony.conf", "/etc/krb5.keytab",
		"/root/.ssh/authorized_keys", "/root/.bashrc", "/home/alice/.ssh/authorized_keys",
		"/usr/bin/foo", "/usr/sbin/sshd", "/sbin/init", "/bin/sh", "/lib/systemd/systemd",
		"/usr/lib/systemd/system/foo.service", "/etc/systemd/system/multi-user.target.wants/foo.service",
		"/usr/local/bin/tool", "/usr/lib/gitboot/gitboot-agent", "/var/lib/gitboot-agent/manifest.json",
		"/var/log/messages", "/var/spool/cron/crontabs/root", "/opt/app/bin/app", "/srv/data", "/tmp/x",
		"/var/lib/munge/munge.seed", "/etc/pki/tls/certs/ca.pem", "/usr/lib64/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
	}
	types := map[fs.FileMode]string{0: "file", fs.ModeDir: "dir", fs.ModeSymlink: "lnk_file"}
	for typ, name := range types {
		out, err := exec.Command("matchpathcon", append([]string{"-m", name}, paths...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("matchpathcon -m %s: %v: %s", name, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(paths) {
			t.Fatalf("matchpathcon -m %s: %d lines for %d paths:\n%s", name, len(lines), len(paths), out)
		}
		for i, p := range paths {
			gotPath, want, ok := strings.Cut(lines[i], "\t")
			if !ok || gotPath != p {
				t.Fatalf("matchpathcon line %q, want %s and its context", lines[i], p)
			}
			if want == "<<none>>" {
				want = ""
			}
			if got := fc.lookup(p, typ); got != want {
				t.Errorf("lookup(%s, %s) = %q, libselinux says %q", p, name, got, want)
			}
		}
	}
}

// TestFileContextsDebianRegexes: every regular expression of the real
// policy compiles in Go (a spec Go cannot compile would never match).
func TestFileContextsDebianRegexes(t *testing.T) {
	fc := loadDebianPolicy(t)
	for _, s := range fc.specs {
		if !s.isLit {
			fc.lookup(s.prefix, fcAny) // compiles it
		}
	}
	for _, s := range fc.specs {
		if s.bad {
			t.Errorf("cannot compile %q", s.regex)
		}
	}
	if len(fc.specs) < 5000 {
		t.Errorf("%d specs read, want the whole policy", len(fc.specs))
	}
}

// TestFileContextsOrder: literal specs win over regular expressions,
// otherwise the last match wins; the file type field counts; aliases
// apply to whole path components, the site's before the distribution's.
func TestFileContextsOrder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/file_contexts", []byte(strings.Join([]string{
		"# comment",
		"/etc/hosts\tctx_literal",
		"/.*\tctx_any",
		"/etc(/.*)?\tctx_etc",
		"/etc/ho.*\t--\tctx_ho_file",
		"/etc/a?b\tctx_ab",
		"/srv/x|/opt/y\tctx_alt",
	}, "\n")), 0o644)
	os.WriteFile(dir+"/file_contexts.local", []byte("/etc/host\\.conf\tctx_local\n"), 0o644)
	os.WriteFile(dir+"/file_contexts.subs_dist", []byte("/data /srv\n"), 0o644)
	os.WriteFile(dir+"/file_contexts.subs", []byte("/site /data\n"), 0o644)
	fc, err := loadFileContexts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		typ  fs.FileMode
		want string
	}{
		{"/etc/hosts", 0, "ctx_literal"},
		{"/etc/host.conf", 0, "ctx_local"},
		{"/etc/hostname", 0, "ctx_ho_file"},
		{"/etc/hostname", fs.ModeDir, "ctx_etc"},
		{"/etc", fs.ModeDir, "ctx_etc"},
		{"/etc/b", 0, "ctx_ab"}, // "a?" may be empty: the prefix is /etc/
		{"/etc/ab", 0, "ctx_ab"},
		{"/usr/bin/x", 0, "ctx_any"},
		{"/opt/y", 0, "ctx_alt"},
		{"/srv/x", 0, "ctx_alt"},
		{"/data/x", 0, "ctx_alt"},   // alias of /srv
		{"/site/x", 0, "ctx_alt"},   // the site's alias, then the distribution's
		{"/database", 0, "ctx_any"}, // not the /data component
	} {
		if got := fc.lookup(c.path, c.typ); got != c.want {
			t.Errorf("lookup(%s, %v) = %q, want %q", c.path, c.typ, got, c.want)
		}
	}
	if _, err := parseFileContexts(strings.NewReader("/x -q ctx\n"), "bad"); err == nil || !strings.Contains(err.Error(), "bad:1") {
		t.Errorf("an unknown file type: %v, want an error naming bad:1", err)
	}
}
