// Package serve assembles and runs the gitboot server: the reconciler
// wired to the boot services (DHCP, TFTP, HTTP and router advertisements,
// rebound with rollback when the served server settings move them), the
// git notes writer (batching, diffing, push retry), the reload watch that
// makes rejected commits visible, the live web status page, the rollout
// and power services, and the triggers (ref watch, SIGHUP, poll). Run is
// its whole lifecycle; cmd/gitboot only turns flags into a Config.
package serve
