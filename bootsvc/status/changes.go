package status

// Change tracking for live views (the web page's /events): Record notes
// which nodes changed, in O(1), and wakes the one watcher without ever
// blocking; the watcher takes the set when it is ready, so a storm of
// events costs it one wake-up and one set of names.

// Changes holds what changed since the last TakeChanges.
type Changes struct {
	Nodes   []string // names of nodes whose record changed (any order)
	Unknown bool     // the unknown MACs changed
	Errors  bool     // an error that belongs to no node was recorded
}

// Watch starts change tracking and returns the channel that receives a
// value (buffered, one pending at most) after changes. Call it once, from
// the single live view; TakeChanges then reads the changes.
func (s *Store) Watch() <-chan struct{} {
	s.lock()
	defer s.unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
		s.dirty = make(map[string]struct{})
	}
	return s.wake
}

// TakeChanges returns the changes since the previous call and forgets them.
func (s *Store) TakeChanges() Changes {
	s.lock()
	defer s.unlock()
	c := Changes{Unknown: s.dirtyUnknown, Errors: s.dirtyErrors}
	c.Nodes = make([]string, 0, len(s.dirty))
	for n := range s.dirty {
		c.Nodes = append(c.Nodes, n)
	}
	clear(s.dirty)
	s.dirtyUnknown, s.dirtyErrors = false, false
	return c
}

// noteChange records what ev changed for the watcher, if any; s.mu is held.
func (s *Store) noteChange(ev *Event) {
	if s.wake == nil {
		return
	}
	switch {
	case ev.Node != "":
		s.dirty[ev.Node] = struct{}{}
	case ev.MAC != "" && !ev.Stage.IsError():
		s.dirtyUnknown = true
	default:
		s.dirtyErrors = true
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
