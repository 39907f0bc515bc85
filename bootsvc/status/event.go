// Package status records what each node fetched from the boot services and
// when (its stage), keeps it in memory, persists it to the state directory,
// and serves it to `gitboot status` and `GET /status`. Each node's record
// also knows which commit and which kernel, image and system overlay it
// booted, so a view that knows the applied snapshot can tell who needs a
// reboot (Report.MarkReboots).
//
// The boot services (bootsvc/dhcp, bootsvc/tftp, bootsvc/httpboot) depend only
// on the Recorder interface; the daemon wires in the Store.
package status

import (
	"net/netip"
	"time"
)

// Stage is a step of the boot path, or an error recorded for a node.
type Stage string

// Stages in boot order, then the error records.
const (
	StageDHCP           Stage = "DHCP"
	StageTFTP           Stage = "TFTP"
	StageIPXE           Stage = "IPXE"
	StageKernel         Stage = "KERNEL"
	StageImage          Stage = "IMAGE"
	StageSystemOverlay  Stage = "SYSTEM_OVERLAY"
	StageRuntimeOverlay Stage = "RUNTIME_OVERLAY"

	StageNotFound   Stage = "NOT_FOUND"
	StageBadRequest Stage = "BAD_REQUEST"
	StageDenied     Stage = "DENIED"
	// StageInitFailed: the node's /init found no init to exec, or the
	// exec failed; it reported why (Event.Reason) and reboots.
	StageInitFailed Stage = "INIT_FAILED"
)

// Event is one thing a boot service did for (or refused to) a client.
type Event struct {
	Node  string     // node name; empty when the client is not a declared node
	MAC   string     // canonical MAC when known
	Stage Stage      //
	Sent  string     // the file sent (e.g. "undionly.kpxe", "runtime.img.gz"); empty if none
	Addr  netip.Addr // the client's address
	Time  time.Time  // zero means "now"

	// Digest is set when a boot artifact was sent: the "sha256:<hex>" of
	// the kernel (StageKernel), image (StageImage) or system overlay
	// (StageSystemOverlay) the node fetched for the boot it is in. Empty
	// for everything else (runtime overlays, extra initrds, HEAD
	// requests), which leaves what the node booted alone.
	Digest string
	// Commit is the commit of the snapshot the artifact came from, with
	// Digest.
	Commit string
	// Retired, with Digest, says the artifact came from a snapshot
	// already replaced by a newer one (served in its grace period).
	Retired bool
	// Alive marks traffic that shows a node is up without being a step of
	// a boot: a booted node's own DHCP (not a PXE or iPXE client's). It
	// refreshes the node's LastSeen and leaves its stage, SENT, address
	// and pending error alone; for a node with no stage yet it records
	// Stage as usual.
	Alive bool
	// Reason is what went wrong, as the node reported it (INIT_FAILED);
	// empty for everything else.
	Reason string
}

// Recorder receives events from the boot services. Implementations must be
// safe for concurrent use and must not block the caller for long.
type Recorder interface {
	Record(Event)
}

// Discard is a Recorder that drops every event.
type Discard struct{}

// Record implements Recorder.
func (Discard) Record(Event) {}
