package artifact

import (
	"errors"
	"io/fs"
	"testing"
)

// The start check's stamps through the directory's descriptor are
// statStamp's, so a verified.json written by either matches the other; a
// missing file is an error naming its path.
func TestStamperAsStatStamp(t *testing.T) {
	state := t.TempDir()
	b := newBuilderAt(t, state, newClock())
	mustBuild(t, b, overlayCluster(t, []string{"nodedep"}, nil, 3).build())
	stat, done := b.store.stamper()
	defer done()
	n := 0
	for name := range b.store.have {
		want, err := statStamp(b.store.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := stat(name); err != nil || got != want || got.Ino == 0 || got.Mtime == 0 {
			t.Errorf("%s: stamper %+v %v, statStamp %+v", name, got, err, want)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("%d artifacts", n)
	}
	if _, err := stat("missing.img"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
