package notes

import (
	"fmt"
	"time"
)

// TypeRollout is the record type of what a rollout did (see Rollout).
const TypeRollout = "rollout"

// Events of a rollout record.
const (
	RolloutStarted = "started" // the rollout began: its batch size, nodes and batches
	RolloutBatch   = "batch"   // a batch's nodes were power cycled
	RolloutNode    = "node"    // one node's outcome: done, failed or skipped
	RolloutResult  = "result"  // how the rollout ended: completed, halted, superseded or canceled
)

// Rollout is record number seq (from 1) of rollout id on server, at time
// at: event is one of the Rollout* events and fields follow it in the
// order given, so a person reads
//
//	rollout server=head id=r20261207T044501Z seq=000003 at=... event=node name=c001 result=done stage=RUNTIME_OVERLAY
//
// and a program takes the records of one rollout by id. seq, zero-padded,
// keeps a rollout's records in the order they happened in a note, whose
// lines are sorted (see Canonical).
func Rollout(server, id string, seq int, at time.Time, event string, fields ...Field) Record {
	return Record{Type: TypeRollout, Fields: append([]Field{
		{"server", server},
		{"id", id},
		{"seq", fmt.Sprintf("%06d", seq)},
		{"at", formatTime(at)},
		{"event", event},
	}, fields...)}
}
