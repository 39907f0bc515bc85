package reconcile

import (
	"runtime/debug"
)

// evalGCPercent is the garbage collector's target (GOGC) while a commit
// is evaluated: the heap may grow to 1.5 times what is live instead of
// twice. Loading, planning and building 100,000 nodes holds some 400 MB
// live at its largest (the old state, still served, and the new one), so
// this bounds the peak by some 200 MB for a little more collection work.
const evalGCPercent = 50

// boundMemory tightens the collector's target for the evaluation of a
// commit (unless GOGC is tighter already); the returned func restores it
// and, with free, gives the memory the evaluation used back to the
// system: the Go runtime otherwise keeps the freed pages for minutes, and
// a server would sit at its peak between pushes. That costs one
// collection.
func boundMemory(free bool) (done func()) {
	prev := debug.SetGCPercent(evalGCPercent)
	if prev < evalGCPercent { // tighter, or off (GOGC=off, with a memory limit)
		debug.SetGCPercent(prev)
	}
	return func() {
		debug.SetGCPercent(prev)
		if free {
			debug.FreeOSMemory()
		}
	}
}
