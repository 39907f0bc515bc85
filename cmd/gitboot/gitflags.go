package main

import (
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/spf13/pflag"
)

// registerGitRemote registers serve's credentials and timeout for a
// remote source, used for its fetches and for pushing notes back.
func registerGitRemote(fl *pflag.FlagSet, o *gitsrc.RemoteOptions) {
	fl.StringVar(&o.SSHKey, "git-ssh-key", "", "private key for an ssh:// (or git@host:path) --repo")
	fl.StringVar(&o.KnownHosts, "git-known-hosts", "", "known_hosts file that must hold the ssh server's host key (strict checking)")
	fl.StringVar(&o.TokenFile, "git-token-file", "", "file holding a token for an https:// --repo, sent as \"Authorization: Bearer TOKEN\" (or the file's \"SCHEME VALUE\" line as is); read at each fetch, never put on a command line")
	fl.DurationVar(&o.Timeout, "git-timeout", gitsrc.DefaultRemoteTimeout, "give up a fetch or a notes push of a remote --repo after this long (the last fetched commits stay served)")
}
