package dhcp

import (
	"sync"
	"time"
)

// unknownMACs decides when a request from an unknown MAC is logged and
// recorded: once per MAC per interval, with at most max MACs remembered, so
// a flood of random MACs costs bounded memory and log volume.
type unknownMACs struct {
	interval time.Duration
	max      int

	mu         sync.Mutex
	last       map[string]time.Time
	lastPrune  time.Time
	suppressed uint64 // MACs not reported because the table was full
}

func newUnknownMACs(interval time.Duration, max int) *unknownMACs {
	return &unknownMACs{interval: interval, max: max, last: make(map[string]time.Time)}
}

// report reports whether mac should be logged and recorded now.
func (u *unknownMACs) report(mac string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.last[mac]; ok {
		if now.Sub(t) < u.interval {
			return false
		}
		u.last[mac] = now
		return true
	}
	if len(u.last) >= u.max && now.Sub(u.lastPrune) >= time.Second {
		u.lastPrune = now // prune at most once a second: a flood stays cheap
		for m, t := range u.last {
			if now.Sub(t) >= u.interval {
				delete(u.last, m)
			}
		}
	}
	if len(u.last) >= u.max {
		u.suppressed++
		return false
	}
	u.last[mac] = now
	return true
}

// size returns how many MACs are remembered.
func (u *unknownMACs) size() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.last)
}
