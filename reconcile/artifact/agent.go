package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// AgentPath is where every node's system overlay has gitboot-agent, the
// binary that keeps its runtime overlay current (gitboot's /init starts
// it). It is under /usr/lib/gitboot, never under a directory that
// distributions make a link (merged /usr: /sbin -> usr/sbin).
const AgentPath = "usr/lib/gitboot/gitboot-agent"

// AgentName is the agent binary's file name next to gitboot.
const AgentName = "gitboot-agent"

// DefaultAgent returns where gitboot looks for the agent binary when
// Config.Agent is "": gitboot-agent in the directory of the running
// executable, resolved through symlinks (so /usr/local/bin/gitboot ->
// /opt/gitboot/bin/gitboot finds /opt/gitboot/bin/gitboot-agent).
func DefaultAgent() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the gitboot executable (to find %s next to it): %w", AgentName, err)
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	return filepath.Join(filepath.Dir(exe), AgentName), nil
}

// agentPath resolves Config.Agent: "" is DefaultAgent, except in a test
// binary, where "" builds system overlays without an agent (tests that do
// not care about it need not build one). ok is false for no agent.
func agentPath(cfg string) (path string, ok bool, err error) {
	if cfg != "" {
		return cfg, true, nil
	}
	if testing.Testing() {
		return "", false, nil
	}
	p, err := DefaultAgent()
	return p, err == nil, err
}

// readAgent reads the agent binary for one build: a file of the init
// overlay at AgentPath, mode 0755. A missing or unreadable binary fails
// the build (a node without its agent would never see a runtime overlay
// change): the error names the path and the flag that sets it.
func readAgent(path string) (*ovFile, error) {
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err == nil && fi.Size() > MaxOverlayFile {
		err = fmt.Errorf("%d bytes; at most %d MiB", fi.Size(), MaxOverlayFile>>20)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err == nil && len(data) == 0 {
		err = errors.New("empty file")
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fs.ErrNotExist
		}
		return nil, fmt.Errorf("gitboot-agent binary %s (every system overlay has it as /%s): %w; install it next to gitboot or name it with gitboot serve --agent PATH",
			path, AgentPath, err)
	}
	return &ovFile{name: AgentPath, src: path, mode: typeReg | 0o755, data: data}, nil
}

// withAgent returns the init overlay with gitboot's own files (the agent,
// the CA it pins, the overlay key: Builder.ownFiles) added last: a copy
// whose hash also covers their bytes, so a new agent, CA or key changes
// every system overlay's input key (and rebuilds them).
func withAgent(ov *overlay, own []ovFile) *overlay {
	out := *ov
	out.files = append(ov.files[:len(ov.files):len(ov.files)], own...)
	var h keyHasher
	h.raw(ov.hash[:])
	for _, f := range own {
		sum := sha256.Sum256(f.data)
		h.str("agent")
		h.str(f.name)
		h.raw(sum[:])
	}
	out.hash = h.sum()
	return &out
}

// agent reads the agent binary for a build; nil when the builder has none
// (a test).
func (b *Builder) agent() (*ovFile, error) {
	path, ok, err := agentPath(b.cfg.Agent)
	if err != nil || !ok {
		return nil, err
	}
	return readAgent(path)
}

// AgentDigest returns the sha256 (hex) of the agent binary this builder
// puts into every system overlay, "" when it has none (a test); with
// Config.Trust, a sha256 over the agent's digest and the trust files, so
// that a new CA or overlay key is a change of desired state too. The
// reconciler records it in the running inventory, so a new agent (a
// server upgrade) or a new CA is planned and applied like a commit, and
// marks every node as needing a reboot.
func (b *Builder) AgentDigest() (string, error) {
	path, ok, err := agentPath(b.cfg.Agent)
	if err != nil || !ok {
		return "", err
	}
	sum, err := b.agentSum.of(path)
	if err != nil {
		return "", err
	}
	if b.cfg.Trust == nil {
		return hex.EncodeToString(sum[:]), nil
	}
	h := sha256.New()
	h.Write([]byte("agent+trust\x00"))
	h.Write(sum[:])
	for _, f := range b.cfg.Trust.files() {
		fs := sha256.Sum256(f.data)
		h.Write([]byte(f.name + "\x00"))
		h.Write(fs[:])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ownFiles are gitboot's own files of every system overlay: the agent
// (unless the builder has none, a test) and the trust files.
func (b *Builder) ownFiles() ([]ovFile, error) {
	a, err := b.agent()
	if err != nil {
		return nil, err
	}
	var own []ovFile
	if a != nil {
		own = append(own, *a)
	}
	if b.cfg.Trust != nil {
		own = append(own, b.cfg.Trust.files()...)
	}
	return own, nil
}

// agentSum is the sha256 of the agent binary AgentDigest read last, kept
// with the file's identity: an apply asks for the digest once per pass and
// the file is 7 MB. Any write changes the identity (its ctime at least),
// so a new agent is read again.
type agentSum struct {
	mu   sync.Mutex
	path string
	id   fileID
	sum  [32]byte
}

// fileID identifies a file's content without reading it: what changes
// when it is written, replaced or moved.
type fileID struct {
	size, mtime, ctime int64
	dev, ino           uint64
}

func fileIDOf(info fs.FileInfo) (fileID, bool) {
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok || !info.Mode().IsRegular() {
		return fileID{}, false
	}
	return fileID{size: info.Size(), mtime: info.ModTime().UnixNano(), ctime: sys.Ctim.Nano(), dev: uint64(sys.Dev), ino: sys.Ino}, true
}

// of returns the sha256 of the agent binary at path: the one kept when
// the file is the one it was computed from, else read (readAgent, with
// its errors) and kept.
func (a *agentSum) of(path string) ([32]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	info, err := os.Stat(path)
	id, known := fileID{}, false
	if err == nil {
		id, known = fileIDOf(info)
	}
	if known && a.path == path && a.id == id {
		return a.sum, nil
	}
	f, err := readAgent(path)
	if err != nil {
		return [32]byte{}, err
	}
	sum := sha256.Sum256(f.data)
	a.path, a.id, a.sum = "", fileID{}, sum
	if known {
		a.path, a.id = path, id // stamped before the read: a write since makes it differ next time
	}
	return sum, nil
}
