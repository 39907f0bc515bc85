package status

import "sync"

// Record never waits for a reader. The boot services call it on their
// request path, while GET /status, the web view and the state file writer
// copy every node's record under the same lock (10,000 clones at a time):
// in a boot storm DHCP, TFTP and HTTP handlers queued behind those copies.
// So Record applies its event at once when the lock is free, and
// otherwise appends it to a queue (a short lock of its own) that whoever
// holds the store's lock applies, in order, before it reads and before it
// lets go: no reader ever sees the store without an event recorded before
// the read began, and no event is lost.

// eventQueue holds events recorded while the store's lock was taken.
type eventQueue struct {
	mu sync.Mutex
	ev []Event
	n  int // len(ev), read under mu; see queued
}

// push appends ev.
func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.ev = append(q.ev, ev)
	q.n = len(q.ev)
	q.mu.Unlock()
}

// take returns the queued events and empties the queue; buf (emptied) is
// the slice the next events go to, so a storm reuses two slices.
func (q *eventQueue) take(buf []Event) []Event {
	q.mu.Lock()
	out := q.ev
	q.ev, q.n = buf[:0], 0
	q.mu.Unlock()
	return out
}

// queued reports whether events wait.
func (q *eventQueue) queued() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n > 0
}

// lock takes the store's lock and applies the queued events.
func (s *Store) lock() {
	s.mu.Lock()
	s.applyQueued()
}

// unlock applies what was queued meanwhile and lets go; an event queued
// just after that is applied by its recorder, which tries the lock again
// after queueing (see Record).
func (s *Store) unlock() {
	for {
		s.applyQueued()
		s.mu.Unlock()
		if !s.queue.queued() || !s.mu.TryLock() {
			return
		}
	}
}

// applyQueued applies the queued events in order; s.mu is held.
func (s *Store) applyQueued() {
	if !s.queue.queued() {
		return
	}
	evs := s.queue.take(s.spare)
	for i := range evs {
		s.apply(evs[i])
		evs[i] = Event{} // drop references
	}
	s.spare = evs
}

// apply records one event; s.mu is held.
func (s *Store) apply(ev Event) {
	s.gen++
	switch {
	case ev.Node != "":
		s.recordNode(ev)
	case ev.MAC != "" && !ev.Stage.IsError():
		s.recordUnknown(ev)
	default:
		s.recordError(ev)
	}
	s.noteChange(&ev)
}
