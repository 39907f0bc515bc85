package status

// initFailed records the node's report that its /init could not exec the
// image's init. Unlike a refused request it comes from the node itself
// (the boot service accepts it only from the node's own address), so it
// shows the node alive, and it marks the boot's timeline.
func (r *NodeRecord) initFailed(ev *Event) {
	r.Addr = ev.Addr
	if ev.Time.After(r.LastSeen) {
		r.LastSeen = ev.Time
	}
	r.Boot.InitFailed, r.Boot.InitReason = ev.Time, ev.Reason
}
