package main

import (
	"bufio"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/selinux/go-selinux"
)

// labeler gives the files the agent writes the SELinux context the node's
// policy gives their path, when SELinux is enabled on the node. A nil
// labeler (SELinux off, the usual case) does nothing and reads nothing.
type labeler struct {
	dir string // the root the policy is read under
	log *slog.Logger
	// set writes a label (lsetxattr security.selinux); tests replace it.
	set func(path, label string) error
	fc  *fileContexts // the policy's, read again at every apply
	err error         // why fc is nil
}

// newLabeler returns the labeler for root dir: nil unless SELinux is
// enabled on the node.
func newLabeler(dir string, log *slog.Logger) *labeler {
	if !selinux.GetEnabled() {
		return nil
	}
	return &labeler{dir: dir, log: log, set: selinux.LsetFileLabel}
}

// reload reads the policy's file contexts (again: an overlay may have
// changed them); when it cannot, files are written unlabelled (the
// kernel's default for their directory) and it says so.
func (l *labeler) reload() {
	if l == nil {
		return
	}
	l.fc, l.err = nil, nil
	typ := policyType(l.dir)
	files := filepath.Join(l.dir, "etc/selinux", typ, "contexts/files")
	l.fc, l.err = loadFileContexts(files)
	if l.err != nil {
		l.log.Warn("SELinux is enabled but its file contexts are unreadable: files are written without their label", "policy", typ, "err", l.err)
	}
}

// policyType is SELINUXTYPE= of the root's /etc/selinux/config
// (libselinux's default "targeted" without one).
func policyType(dir string) string {
	typ := "targeted"
	f, err := os.Open(filepath.Join(dir, "etc/selinux/config"))
	if err != nil {
		return typ
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && strings.TrimSpace(k) == "SELINUXTYPE" {
			if v = strings.Trim(strings.TrimSpace(v), `"`); v != "" && !strings.Contains(v, "/") {
				typ = v
			}
		}
	}
	return typ
}

// label gives name (relative to the root) the context for its own path.
func (l *labeler) label(root *safeRoot, name string, typ fs.FileMode) error {
	return l.labelAs(root, name, name, typ)
}

// labelAs gives the file at p (relative to the root, e.g. a temporary
// file) the context the policy gives name, a file of type typ.
func (l *labeler) labelAs(root *safeRoot, p, name string, typ fs.FileMode) error {
	if l == nil || l.fc == nil {
		return nil
	}
	ctx := l.fc.lookup(path.Join("/", name), typ)
	if ctx == "" {
		return nil // <<none>> or no match: left as created
	}
	return l.set(filepath.Join(root.Name(), p), ctx)
}
