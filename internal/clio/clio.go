// Package clio holds what the packages that run gitboot's commands share
// with cmd/gitboot: an exit status carried as an error, whether an output
// is a terminal, JSON output, asking for a yes and the context of a
// command. cmd/gitboot parses flags; the packages do the work and print.
package clio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Exit carries a process exit status through the command's error
// without printing anything more (the command has already said why).
type Exit struct{ Code int }

func (e Exit) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// IsTerminal reports whether w is a terminal (colour and redraws only then).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// WriteJSON prints v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Context is ctx, or the background context when ctx is nil (a command
// run without one, as tests do).
func Context(ctx context.Context) context.Context {
	if ctx != nil {
		return ctx
	}
	return context.Background()
}

// ConfirmApply asks for "yes" on the terminal in (printing the question on
// out); an input that is not a terminal is an error.
func ConfirmApply(in io.Reader, out io.Writer) (bool, error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, errors.New("not a terminal to ask on: review the plan and use --auto-approve, or save it with plan --out and apply the file")
	}
	fmt.Fprint(out, "\nDo you want to apply this plan?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return strings.TrimSpace(line) == "yes", nil
}
