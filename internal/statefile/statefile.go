// Package statefile handles a damaged state file: one that exists but
// cannot be read as what it should be (empty, truncated, not JSON, an
// unknown version). Such a file never stops the server: it is moved aside
// as NAME.corrupt-<time>, kept for a person to look at, the move is logged
// as an error, and the caller starts with what it can rebuild.
//
// Imported by the packages that read state at start: bootsvc/status (the
// status file), bootsvc/dhcp (the lease file), reconcile (the running
// inventory) and reconcile/artifact (the applied state).
package statefile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// CorruptError is a state file that exists but cannot be read.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s is damaged: %v", e.Path, e.Err) }
func (e *CorruptError) Unwrap() error { return e.Err }

// Corrupt wraps err as a *CorruptError for path.
func Corrupt(path string, err error) error { return &CorruptError{Path: path, Err: err} }

// timeFormat names a moved file: sortable, no colons.
const timeFormat = "20060102T150405.000000000Z"

// SetAside moves a damaged file aside when err is (or wraps) a
// *CorruptError and logs it at ERROR with what the caller starts with
// instead (then). It returns whether err was such an error and the file
// is out of the way, so the caller can go on without it; false leaves err
// for the caller to return.
func SetAside(log *slog.Logger, err error, then string) bool {
	var ce *CorruptError
	if !errors.As(err, &ce) {
		return false
	}
	aside, merr := MoveAside(ce.Path, time.Now())
	if merr != nil {
		log.Error("state file damaged and cannot be moved aside", "file", ce.Path, "err", err, "move_err", merr)
		return false
	}
	log.Error("STATE FILE DAMAGED: moved aside; "+then, "file", ce.Path, "moved_to", aside, "err", ce.Err)
	return true
}

// MoveAside renames path to path.corrupt-<now, UTC> and returns the new
// name.
func MoveAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + now.UTC().Format(timeFormat)
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, nil
}
