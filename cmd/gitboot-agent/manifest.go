package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
)

// stateDir is the agent's own directory under the root; manifestName the
// record of what it installed there; origDir holds the node's own copies
// of the files overlays replaced (see orig.go).
const (
	stateDir     = "var/lib/gitboot-agent"
	manifestName = stateDir + "/manifest.json"
	origDir      = stateDir + "/orig"
)

// manifest records what the last applied runtime overlay installed, so the
// next one removes what it no longer has and nothing else. Paths are where
// the files are on the node (through the image's symlinks: usr/sbin/x for
// an overlay's sbin/x when /sbin -> usr/sbin).
type manifest struct {
	Version int `json:"version"`
	// ETag is the server's ETag of the overlay last applied in full ("":
	// the last apply failed part way, so the next fetch gets it again).
	ETag string `json:"etag,omitempty"`
	// Files are the regular files and symlinks the overlay installed,
	// plus those the agent failed to remove (retried next time).
	Files []string `json:"files"`
	// Dirs are the directories the agent created (never one that was
	// there before it).
	Dirs []string `json:"dirs,omitempty"`
	// Originals are the files of Files the node had before an overlay
	// first replaced them (the image's): kept under origDir, and put back
	// when no overlay ships the path any more.
	Originals []string `json:"originals,omitempty"`
	// Unknown are the files of Files the node had, with the overlay's
	// own content, at the first apply after a boot whose runtime overlay
	// was also an initrd (not secure_runtime): the kernel had unpacked
	// the overlay over the image already, so whether the image has its
	// own copy is unknown. Removing one deletes it.
	Unknown []string `json:"unknown,omitempty"`
	// DirAttrs are the modes and owners that directories the agent did
	// not create had before an overlay changed them; put back when no
	// overlay declares the directory any more.
	DirAttrs map[string]attrs `json:"dir_attrs,omitempty"`
	// Via names, for a file the node's symlinks moved, the overlay's own
	// name for it (as post_apply lists know it).
	Via map[string]string `json:"via,omitempty"`

	found bool // read from disk (false: the agent's first apply since boot)
}

// attrs are a directory's permission bits (cpio style) and owner.
type attrs struct {
	Mode uint32 `json:"mode"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

// readManifest returns the manifest under the root; an empty one when
// there is none or it is unreadable (then nothing is removed: the agent
// removes only what it knows it installed).
func (a *applier) readManifest() *manifest {
	m := &manifest{Version: 1}
	data, err := os.ReadFile(path.Join(a.dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return m
	}
	if err == nil {
		err = json.Unmarshal(data, m)
	}
	if err != nil {
		a.log.Warn("manifest unreadable; nothing the previous overlay installed will be removed", "file", path.Join(a.dir, manifestName), "err", err)
		return &manifest{Version: 1, found: true}
	}
	m.found = true
	return m
}

// merge adds what old tracks and m does not (after an apply that failed
// part way, so a later one still removes or restores it).
func (m *manifest) merge(old *manifest) {
	for _, f := range old.Files {
		if !slices.Contains(m.Files, f) {
			m.Files = append(m.Files, f)
		}
	}
	for _, f := range old.Originals {
		if !slices.Contains(m.Originals, f) {
			m.Originals = append(m.Originals, f)
		}
	}
	for _, f := range old.Unknown {
		if !slices.Contains(m.Unknown, f) {
			m.Unknown = append(m.Unknown, f)
		}
	}
	for f, v := range old.Via {
		if _, ok := m.Via[f]; !ok {
			m.setVia(f, v)
		}
	}
}

func (m *manifest) setVia(file, shipped string) {
	if m.Via == nil {
		m.Via = map[string]string{}
	}
	m.Via[file] = shipped
}

func (a *applier) writeManifest(root *safeRoot, m *manifest) error {
	if err := root.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	// A runtime overlay's overlays.json may have made it (0755) first.
	if err := root.Chmod(stateDir, 0o700); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if cur, err := root.ReadFile(manifestName); err == nil && bytes.Equal(cur, data) {
		return nil // unchanged: not rewritten
	}
	tmp := manifestName + ".tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, manifestName)
	}
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	return nil
}
