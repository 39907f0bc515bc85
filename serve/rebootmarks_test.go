package serve

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

func TestRebootMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), rebootMarksFile)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	at := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	rm := openRebootMarks(path, log)
	rm.mark([]string{"n1", "n2"}, at)
	if !rm.needs("n1", at.Add(-time.Minute)) {
		t.Error("n1 booted before the mark: it needs the reboot")
	}
	if rm.needs("n3", time.Time{}) {
		t.Error("n3 was never marked")
	}
	// Persisted: a restarted server still knows.
	rm = openRebootMarks(path, log)
	if !rm.needs("n2", time.Time{}) {
		t.Error("n2's mark lost across a reopen (a boot of unknown start still needs it)")
	}
	if rm.needs("n1", at.Add(time.Minute)) {
		t.Error("n1 booted after the mark: no reboot needed")
	}
	if rm.needs("n1", at.Add(-time.Minute)) {
		t.Error("n1's mark was not dropped once it booted past it")
	}
	// A later commit needing it again marks it again.
	rm.mark([]string{"n1"}, at.Add(2*time.Minute))
	if !rm.needs("n1", at.Add(time.Minute)) {
		t.Error("n1 booted before the second mark: it needs the reboot")
	}
}
