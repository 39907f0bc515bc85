package gitsrc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
)

// ExportTree writes the tree of commit into dir, byte for byte as committed
// (no .gitattributes filters, unlike git archive or checkout): regular files
// with their mode, symbolic links as links. Submodules are left out. It runs
// git in the current directory and environment, which inside a hook point at
// the repository and at the quarantined objects of the push.
func ExportTree(ctx context.Context, commit, dir string) error {
	ls := exec.CommandContext(ctx, "git", "ls-tree", "-r", "-z", "--full-tree", commit)
	var lsErr bytes.Buffer
	ls.Stderr = &lsErr
	listing, err := ls.Output()
	if err != nil {
		return fmt.Errorf("git ls-tree: %v: %s", err, strings.TrimSpace(lsErr.String()))
	}
	type entry struct{ mode, id, name string }
	var entries []entry
	for rec := range strings.SplitSeq(strings.TrimSuffix(string(listing), "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		meta, name, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return fmt.Errorf("git ls-tree: unexpected line %q", rec)
		}
		if f[1] == "blob" {
			entries = append(entries, entry{mode: f[0], id: f[2], name: name})
		}
	}
	root, err := os.OpenRoot(dir) // nothing written below can leave dir
	if err != nil {
		return err
	}
	defer root.Close()

	cat := exec.CommandContext(ctx, "git", "cat-file", "--batch")
	stdin, err := cat.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cat.StdoutPipe()
	if err != nil {
		return err
	}
	var catErr bytes.Buffer
	cat.Stderr = &catErr
	if err := cat.Start(); err != nil {
		return fmt.Errorf("git cat-file: %w", err)
	}
	go func() {
		w := bufio.NewWriter(stdin)
		for _, e := range entries {
			fmt.Fprintln(w, e.id)
		}
		w.Flush()
		stdin.Close()
	}()
	r := bufio.NewReader(stdout)
	for _, e := range entries {
		if err = writeBlob(root, r, e.mode, e.name); err != nil {
			err = fmt.Errorf("%s: %w", e.name, err)
			break
		}
	}
	if err != nil {
		_ = cat.Process.Kill()
		_ = cat.Wait()
		return err
	}
	if err := cat.Wait(); err != nil {
		return fmt.Errorf("git cat-file: %v: %s", err, strings.TrimSpace(catErr.String()))
	}
	return nil
}

// writeBlob reads one `git cat-file --batch` answer from r and writes it as name.
func writeBlob(root *os.Root, r *bufio.Reader, mode, name string) error {
	header, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading object: %w", err)
	}
	f := strings.Fields(header)
	if len(f) != 3 || f[1] != "blob" {
		return fmt.Errorf("unexpected object header %q", strings.TrimSpace(header))
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return fmt.Errorf("unexpected object header %q", strings.TrimSpace(header))
	}
	body := io.LimitReader(r, size)
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	switch mode {
	case "120000":
		target, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if err := root.Symlink(string(target), name); err != nil {
			return err
		}
	default:
		perm := os.FileMode(0o644)
		if mode == "100755" {
			perm = 0o755
		}
		out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, body); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
	// Each object ends with a newline.
	if _, err := r.Discard(1); err != nil {
		return fmt.Errorf("reading object: %w", err)
	}
	return nil
}

// CatCommit returns the raw object of commit id (`git cat-file commit`),
// as a signature check reads it. It runs git in the current directory and
// environment: inside a hook, the pushed objects are quarantined and
// visible to git only.
func CatCommit(ctx context.Context, id string) ([]byte, error) {
	cat := exec.CommandContext(ctx, "git", "cat-file", "commit", id)
	var catErr bytes.Buffer
	cat.Stderr = &catErr
	raw, err := cat.Output()
	if err != nil {
		return nil, fmt.Errorf("git cat-file commit %s: %v: %s", id[:min(len(id), 12)], err, strings.TrimSpace(catErr.String()))
	}
	return raw, nil
}
