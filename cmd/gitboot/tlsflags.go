package main

import "github.com/spf13/pflag"

// tlsFlags are serve's flags for the agents' HTTPS listener.
type tlsFlags struct {
	cert, key string
}

func (f *tlsFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.cert, "tls-cert", "", "certificate (PEM, chain after the leaf) for the agents' HTTPS listener (https_port); it must name the server block's address. Agents pin the file's last certificate. Default: one issued by gitboot's own CA in --state/tls")
	fl.StringVar(&f.key, "tls-key", "", "the key of --tls-cert (PEM)")
}
