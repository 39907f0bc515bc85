package main

import "github.com/spf13/pflag"

// registerTLS registers serve's flags for the agents' HTTPS listener.
func registerTLS(fl *pflag.FlagSet, cert, key *string) {
	fl.StringVar(cert, "tls-cert", "", "certificate (PEM, chain after the leaf) for the agents' HTTPS listener (https_port); it must name the server block's address. Agents pin the file's last certificate. Default: one issued by gitboot's own CA in --state/tls")
	fl.StringVar(key, "tls-key", "", "the key of --tls-cert (PEM)")
}
