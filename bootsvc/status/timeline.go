package status

import (
	"encoding/json"
	"time"
)

// BootStages are the stages of a boot in order: the steps of a Timeline.
var BootStages = [NumBootStages]Stage{
	StageDHCP, StageTFTP, StageIPXE, StageKernel, StageImage, StageSystemOverlay, StageRuntimeOverlay,
}

// NumBootStages is the number of stages in a boot.
const NumBootStages = 7

// stageIndex returns the position of s in BootStages, or -1 for an error
// stage or an unknown one.
func stageIndex(s Stage) int {
	switch s {
	case StageDHCP:
		return 0
	case StageTFTP:
		return 1
	case StageIPXE:
		return 2
	case StageKernel:
		return 3
	case StageImage:
		return 4
	case StageSystemOverlay:
		return 5
	case StageRuntimeOverlay:
		return 6
	}
	return -1
}

// Timeline is when one boot of a node first reached each stage (a zero
// time: the boot skipped that stage or has not reached it yet). It is a
// fixed-size value: recording a stage is O(1) and a node keeps exactly two
// (NodeRecord.Boot and NodeRecord.PrevBoot).
type Timeline struct {
	At [NumBootStages]time.Time
	// InitFailed is when the node's /init reported that it could not exec
	// the image's init (INIT_FAILED), InitReason what it said; zero when
	// it did not.
	InitFailed time.Time
	InitReason string
}

// IsZero reports whether the timeline has no stage.
func (t Timeline) IsZero() bool { return t.last() < 0 && t.InitFailed.IsZero() }

// last is the index of the latest stage reached, or -1.
func (t *Timeline) last() int {
	for i := NumBootStages - 1; i >= 0; i-- {
		if !t.At[i].IsZero() {
			return i
		}
	}
	return -1
}

// first is the index of the first stage reached, or -1.
func (t *Timeline) first() int {
	for i := range t.At {
		if !t.At[i].IsZero() {
			return i
		}
	}
	return -1
}

// Start is when the boot's first recorded stage happened (zero: none).
func (t *Timeline) Start() time.Time {
	if i := t.first(); i >= 0 {
		return t.At[i]
	}
	return time.Time{}
}

// Total is the time from the first to the latest stage reached.
func (t *Timeline) Total() time.Duration {
	i, j := t.first(), t.last()
	if i < 0 {
		return 0
	}
	return t.At[j].Sub(t.At[i])
}

// Complete reports whether the boot reached its last stage (the runtime
// overlay: the node's own init or agent fetched it).
func (t *Timeline) Complete() bool { return !t.At[NumBootStages-1].IsZero() }

// Step is one stage of a timeline as shown: when it was reached and the gap
// since the previous stage reached.
type Step struct {
	Stage Stage         `json:"stage"`
	At    time.Time     `json:"at"`
	Gap   time.Duration `json:"-"`
}

// Steps returns the stages reached, in boot order, with their gaps.
func (t *Timeline) Steps() []Step {
	out := make([]Step, 0, NumBootStages)
	var prev time.Time
	for i, at := range t.At {
		if at.IsZero() {
			continue
		}
		s := Step{Stage: BootStages[i], At: at}
		if !prev.IsZero() {
			s.Gap = at.Sub(prev)
		}
		prev = at
		out = append(out, s)
	}
	return out
}

// timelineJSON is the wire form of a Timeline.
type timelineJSON struct {
	Start        time.Time  `json:"start"`
	TotalSeconds float64    `json:"total_seconds"`
	Complete     bool       `json:"complete"`
	Stages       []stepJSON `json:"stages"`
	// InitFailed is set when /init reported INIT_FAILED in this boot.
	InitFailed *initFailedJSON `json:"init_failed,omitempty"`
}

type initFailedJSON struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

type stepJSON struct {
	Stage      Stage     `json:"stage"`
	At         time.Time `json:"at"`
	GapSeconds float64   `json:"gap_seconds"`
}

// MarshalJSON writes the stages reached with their gaps and the total,
// in seconds.
func (t Timeline) MarshalJSON() ([]byte, error) {
	doc := timelineJSON{Start: t.Start(), TotalSeconds: t.Total().Seconds(), Complete: t.Complete(), Stages: []stepJSON{}}
	for _, s := range t.Steps() {
		doc.Stages = append(doc.Stages, stepJSON{Stage: s.Stage, At: s.At, GapSeconds: s.Gap.Seconds()})
	}
	if !t.InitFailed.IsZero() {
		doc.InitFailed = &initFailedJSON{At: t.InitFailed, Reason: t.InitReason}
	}
	return json.Marshal(&doc)
}

// UnmarshalJSON reads what MarshalJSON wrote (the stages; the rest is
// derived from them). A stage it does not know is skipped: a timeline is
// informational, and a state file written by another version must not
// keep the status store from loading.
func (t *Timeline) UnmarshalJSON(b []byte) error {
	var doc timelineJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	*t = Timeline{}
	for _, s := range doc.Stages {
		if i := stageIndex(s.Stage); i >= 0 {
			t.At[i] = s.At
		}
	}
	if f := doc.InitFailed; f != nil {
		t.InitFailed, t.InitReason = f.At, f.Reason
	}
	return nil
}

// observe records a good stage event in the node's timelines: O(1). A new
// boot starts (the current one becomes the previous one) when the stage
// comes before the latest one of the current boot, and at a DHCP after
// the boot got past its DHCP and TFTP steps (a PXE or iPXE client's DHCP:
// a booted node's own renewals are Alive events and never get here; the
// DHCP of iPXE chain-loaded over TFTP belongs to the boot that loaded it).
// Within a boot, each stage keeps the time it was first reached, so the
// agent's later pulls of the runtime overlay do not move it.
func (r *NodeRecord) observe(st Stage, at time.Time) {
	i := stageIndex(st)
	if i < 0 {
		return
	}
	last := r.Boot.last()
	newBoot := last >= 0 && (i < last || (i == 0 && last > 1))
	if i == 0 && last == 1 {
		newBoot = false // iPXE's own DHCP after the TFTP that loaded it
	}
	if newBoot {
		r.PrevBoot = r.Boot
		r.Boot = Timeline{}
	}
	if r.Boot.At[i].IsZero() {
		r.Boot.At[i] = at
	}
}

// LastBoot returns the node's latest complete boot: the current one when it
// is complete, else the previous one when that is, else false.
func (r *NodeRecord) LastBoot() (Timeline, bool) {
	if r.Boot.Complete() {
		return r.Boot, true
	}
	if r.PrevBoot.Complete() {
		return r.PrevBoot, true
	}
	return Timeline{}, false
}
