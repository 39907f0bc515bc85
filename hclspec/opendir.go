package hclspec

import (
	"fmt"
	"io/fs"
	"os"
)

// OpenDir opens a repository directory so that nothing read through it
// (file(), overlay directories) can leave it, symlinks included; close
// releases it.
func OpenDir(dir string) (fsys fs.FS, close func(), err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("opening repository: %w", err)
	}
	return root.FS(), func() { root.Close() }, nil
}
