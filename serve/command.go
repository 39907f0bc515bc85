package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"golang.org/x/term"
)

// Command is `gitboot serve` as its flags give it: Config, and what is
// still to be read or checked (Run does, in the flags' order of
// reporting).
type Command struct {
	Config
	LogFormat  string   // text or json
	VarArgs    []string // --var name=value
	RootsFunc  func() (hclspec.Roots, error)
	AdminToken func() (string, error) // the token file's token, "" without one
	Stderr     io.Writer              // logs, build progress on a terminal, an invalid tip's diagnostics
}

// Run checks the command's flags and files, runs the server (Run) until
// SIGTERM or SIGINT, and reports an invalid tip with its diagnostics
// (exit status 1).
func (c Command) Run(ctx context.Context) error {
	log, err := NewLogger(c.Stderr, c.LogFormat)
	if err != nil {
		return err
	}
	if c.TFTPPerClient < 1 || c.HTTPPerClient < 1 {
		return fmt.Errorf("--tftp-max-per-client %d, --http-max-per-client %d: both must be at least 1", c.TFTPPerClient, c.HTTPPerClient)
	}
	if c.MaxBooting < 0 {
		return fmt.Errorf("--dhcp-max-booting %d: must be 0 (no limit) or more", c.MaxBooting)
	}
	cfg := c.Config
	cfg.Logger = log
	if err := c.check(&cfg); err != nil {
		return err
	}
	if fd, ok := c.Stderr.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		cfg.Progress = fd
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = Run(ctx, cfg)
	var bad *InvalidTipError
	if errors.As(err, &bad) {
		fmt.Fprintf(c.Stderr, "gitboot: commit %s of %s is invalid; nothing is served.\n\n", bad.Commit, bad.Repo)
		diagfmt.Write(c.Stderr, bad.Files, bad.Diags)
		return clio.Exit{Code: 1}
	}
	return err
}

// check reads the variables, the roots and the admin token into cfg and
// checks the signing flags, the remote's options and the credentials file.
func (c Command) check(cfg *Config) error {
	opts, err := hclspec.OptionsFor(".", c.VarArgs)
	if err != nil {
		return err
	}
	cfg.Vars = opts.Vars
	// The flags' policy is checked here; the one recorded in the state
	// binds, flags or not (Run, once it holds the state's lock).
	if _, err := gitsrc.FlagPolicy(c.Signing.Require, c.Signing.KeysFile); err != nil {
		return err
	}
	if err := c.Remote.Check(); err != nil {
		return err
	}
	if cfg.Roots, err = c.RootsFunc(); err != nil {
		return err
	}
	if err := checkBMCCredentials(c.Stderr, c.BMCCredentials); err != nil {
		return err
	}
	cfg.AdminToken, err = c.AdminToken()
	return err
}

// NewLogger is a logger writing format ("text" or "json") to w.
func NewLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// checkBMCCredentials reads --bmc-credentials at start, so that a broken
// file is said at once (it is read again on every POST /power).
func checkBMCCredentials(stderr io.Writer, path string) error {
	if path == "" {
		return nil
	}
	_, diags := power.LoadCredentials(path)
	if len(diags) > 0 {
		diagfmt.Write(stderr, power.CredentialSources(path), diags)
	}
	if diags.HasErrors() {
		return fmt.Errorf("--bmc-credentials %s: the file has errors", path)
	}
	return nil
}
