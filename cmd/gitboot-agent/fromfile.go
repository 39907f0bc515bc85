package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// applyBootFile is --once --from FILE: it applies the runtime overlay
// that iPXE put into the initramfs as a file (not as an initrd the kernel
// unpacks), so that the agent, not the kernel, lays it over the image at
// init: it sees the image's own files first and keeps exact copies of
// them, as in secure mode. No post_apply command runs (the image's init
// has not started), and no ETag is recorded, so the first fetch from the
// server applies the same overlay again, changing nothing. FILE is removed
// once applied (it may hold secrets). FILE.sig (overlaysig.FileSuffix,
// next to it in the same initrd) holds its signature: without a good one
// nothing is applied, and both files are removed all the same.
func (a *agent) applyBootFile(ctx context.Context) error {
	name := a.cfg.from
	sigName := name + overlaysig.FileSuffix
	defer os.Remove(sigName)
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("reading the runtime overlay: %w", err)
	}
	sig, err := os.ReadFile(sigName)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the runtime overlay's signature: %w", err)
	}
	if err := a.checkSignature(data, string(sig)); err != nil {
		a.log.ErrorContext(ctx, "runtime overlay from the initramfs refused: bad signature; nothing of it was applied", "file", name, "err", err)
		return fmt.Errorf("%s: %w", name, err)
	}
	ents, err := readOverlay(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	st, err := a.apply.apply(ents, "")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	a.log.InfoContext(ctx, "runtime overlay applied from the initramfs", "file", name, "written", st.Written,
		"unchanged", st.Unchanged, "dirs_created", st.Created)
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the applied runtime overlay: %w", err)
	}
	return nil
}
