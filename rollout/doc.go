// Package rollout reboots, a batch at a time, the nodes that must reboot to
// pick up the applied commit, and watches each come back.
//
// The pure parts are the batch planner (ParseBatch, Batch.Size, Plan) and
// the halting rule (Halts); Run drives one rollout through two small
// interfaces, Power (the BMCs: status and power cycle) and Watch (the boot
// status the server records), so it is tested without BMCs or nodes. A
// Manager runs one rollout at a time on the server (POST /rollout starts
// it, GET /rollout shows its Progress) and supersedes it when a newer
// commit is applied.
//
// It is imported by cmd/gitboot (`gitboot rollout`, `gitboot serve`). It
// imports bootsvc/status for stage names and node records,
// reconcile/notes for the records it writes and power for the BMCs (BMCs);
// bootsvc never imports it (the status page gets a plain webui.Rollout).
package rollout
