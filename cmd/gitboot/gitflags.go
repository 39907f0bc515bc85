package main

import (
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/spf13/pflag"
)

// gitRemoteFlags are serve's credentials and timeout for a remote source,
// used for its fetches and for pushing notes back.
type gitRemoteFlags struct{ opts gitsrc.RemoteOptions }

func (f *gitRemoteFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.opts.SSHKey, "git-ssh-key", "", "private key for an ssh:// (or git@host:path) --repo")
	fl.StringVar(&f.opts.KnownHosts, "git-known-hosts", "", "known_hosts file that must hold the ssh server's host key (strict checking)")
	fl.StringVar(&f.opts.TokenFile, "git-token-file", "", "file holding a token for an https:// --repo, sent as \"Authorization: Bearer TOKEN\" (or the file's \"SCHEME VALUE\" line as is); read at each fetch, never put on a command line")
	fl.DurationVar(&f.opts.Timeout, "git-timeout", gitsrc.DefaultRemoteTimeout, "give up a fetch or a notes push of a remote --repo after this long (the last fetched commits stay served)")
}
