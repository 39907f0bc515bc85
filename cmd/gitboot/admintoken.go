package main

import (
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

// addAdminTokenFlag registers --admin-token-file on root for every
// command: serve requires the token on its admin listener, the clients
// (status, plan, apply, discover, rollout, power, hooks poke) send it.
func addAdminTokenFlag(root *cobra.Command) {
	root.PersistentFlags().StringVar(&client.TokenFile, "admin-token-file", "",
		"file holding the admin listener's bearer token (one line, at least 16 characters): serve requires it on --listen-admin, "+
			"the clients send it (default: $"+client.TokenEnv+")")
}

// adminToken reads the admin token: "" when no file is given.
func adminToken() (string, error) { return client.Token() }
