package reconcile

// serverBootChanged reports whether a server setting that running nodes
// carry from their boot changed: the address and HTTP port in their
// kernel command line (gitboot.server=URL, the agent's server), the
// agent's interval and whether it fetches the runtime overlay securely.
// Such a node keeps the old values until it reboots, so every running
// node needs a reboot. A first apply (nothing running) needs none.
func serverBootChanged(running, desired ServerState) bool {
	if running.Name == "" {
		return false
	}
	return running.Address != desired.Address || running.HTTPPort != desired.HTTPPort ||
		running.RuntimeInterval != desired.RuntimeInterval || running.SecureRuntime != desired.SecureRuntime
}
