package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists dir, failing the test if a temporary file was left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, tc := range []struct {
		data string
		perm fs.FileMode
	}{{"first\n", 0o600}, {"second, longer\n", 0o644}, {"", 0o640}} {
		if err := WriteFile(p, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != tc.data {
			t.Fatalf("content %q, %v; want %q", got, err, tc.data)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, want %v (exactly, whatever the umask)", st.Mode().Perm(), tc.perm)
		}
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %v, want only state.json", names)
	}
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := WriteFile("f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile("f"); string(got) != "x" {
		t.Errorf("content %q", got)
	}
	entries(t, ".")
}

// TestWriteFailureKeepsOld: whatever fails, the old content stays and no
// temporary file is left.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "leases.json")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("encoder failed")
	err := Write(p, 0o600, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	if err != boom {
		t.Fatalf("fill's error came back as %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("after a failed write the file holds %q, want the old content", got)
	}
	entries(t, dir)

	// A rename that fails: the target is a non-empty directory.
	target := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = WriteFile(target, []byte("data"), 0o600)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "rename" || pe.Path != target {
		t.Errorf("rename over a directory: %v, want a rename error naming %s", err, target)
	}
	entries(t, dir)
}

func TestWriteFileMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "no", "such", "f")
	err := WriteFile(p, nil, 0o600)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("got %v, want ErrNotExist naming %s", err, p)
	}
}

func TestStreaming(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	err := Write(p, 0o644, func(w io.Writer) error {
		for i := 0; i < 1000; i++ {
			if _, err := io.WriteString(w, "0123456789"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Size() != 10000 {
		t.Errorf("stat: %v, %v", st, err)
	}
}
