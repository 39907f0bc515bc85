// Package reconcile makes what the boot services serve equal what the
// repository declares, as a list of small steps: resolve the tracked ref
// (reconcile/gitsrc), load and validate the commit (hclspec), compute its
// desired state (Desire: the HCL model, every overlay file and template,
// file() inputs, each image's content key), plan it against the running
// inventory (Diff), build what changed (reconcile/artifact), publish one
// immutable bootsvc.Snapshot, record the running inventory atomically in
// the state directory, and collect unreferenced artifacts. A commit that
// fails is reported once and the last good state stays served, also across
// restarts (Restore serves the recorded inventory before anything is
// resolved).
//
// Reconciler.ReconcileOnce is one pass, steppable in tests; Run drives it
// from triggers (a watched push, POST /reconcile, SIGHUP) and a poll.
// Evaluation results are handed to Config.OnEvaluated: the hook for git
// notes. Imported by cmd/gitboot.
package reconcile
