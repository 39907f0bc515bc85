package webui

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
)

// MaxStreams bounds the open event streams; more get 503.
const MaxStreams = 64

// MaxStreamsPerClient bounds the open event streams of one client
// address, so that one client cannot hold all MaxStreams: more get 429
// with Retry-After (StreamRetryAfter seconds).
const MaxStreamsPerClient = 4

// StreamRetryAfter is the Retry-After (seconds) of a 429 for a client
// over MaxStreamsPerClient.
const StreamRetryAfter = 10

// subscriber is one open event stream. Run sends it updates; a stream too
// slow to take them is closed (the browser reconnects and reloads).
type subscriber struct {
	ch   chan []byte
	gone chan struct{}
	addr netip.Addr // the client's address, for MaxStreamsPerClient
}

// update is one message on /events (event "update"): each part is present
// only when it changed.
type update struct {
	Now      int64    `json:"now"` // the server's clock, unix ms
	Reload   bool     `json:"reload,omitempty"`
	Header   string   `json:"header,omitempty"`
	Counts   string   `json:"counts,omitempty"`
	Hist     string   `json:"hist,omitempty"`
	Unknown  string   `json:"unknown,omitempty"`
	Rows     []string `json:"rows,omitempty"`
	Selected []string `json:"changed,omitempty"` // names whose rows are in Rows
}

// lastSnap remembers the node set the pages were rendered for.
type lastSnap struct {
	snap  *bootsvc.Snapshot
	names string
}

// update builds the message for what changed since the last one; nil when
// nothing visible changed.
func (u *UI) update() []byte {
	ch := u.cfg.Status.TakeChanges()
	u.mu.Lock()
	header := u.header
	u.header = false
	u.mu.Unlock()
	snap := u.cfg.Snapshot()
	v := u.build(snap, "")
	msg := update{Now: v.NowMS}
	if names := nodeNames(snap); u.last.snap != snap {
		if u.last.snap != nil && names != u.last.names {
			msg.Reload = true // nodes added or removed: the table changes shape
		}
		u.last = lastSnap{snap: snap, names: names}
	}
	var err error
	if header || msg.Reload {
		if msg.Header, err = fragment("header", v); err != nil {
			u.cfg.Logger.Error("webui: rendering", "err", err)
		}
	}
	if len(ch.Nodes) > 0 || msg.Reload {
		want := make(map[string]bool, len(ch.Nodes))
		for _, n := range ch.Nodes {
			want[n] = true
		}
		for i := range v.Rows {
			if !want[v.Rows[i].Name] {
				continue
			}
			msg.Rows = append(msg.Rows, string(appendRow(nil, &v.Rows[i])))
			msg.Selected = append(msg.Selected, v.Rows[i].Name)
		}
		if len(msg.Rows) > 0 || msg.Reload {
			msg.Counts, _ = fragment("counts", v)
			msg.Hist, _ = fragment("hist", v)
		}
	}
	if ch.Unknown || msg.Reload {
		msg.Unknown, _ = fragment("unknown", v)
	}
	if !msg.Reload && msg.Header == "" && len(msg.Rows) == 0 && msg.Unknown == "" {
		return nil
	}
	b, err := json.Marshal(&msg)
	if err != nil {
		u.cfg.Logger.Error("webui: encoding an update", "err", err)
		return nil
	}
	return b
}

func nodeNames(snap *bootsvc.Snapshot) string {
	if snap == nil {
		return ""
	}
	var b strings.Builder
	for i := range snap.Nodes {
		b.WriteString(snap.Nodes[i].Name)
		b.WriteByte(0)
	}
	return b.String()
}

// broadcast hands msg to every stream; a stream whose queue is full is
// dropped.
func (u *UI) broadcast(msg []byte) {
	if msg == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent++
	for s := range u.subs {
		select {
		case s.ch <- msg:
		default:
			delete(u.subs, s)
			close(s.gone)
		}
	}
}

func (u *UI) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for s := range u.subs {
		delete(u.subs, s)
		close(s.gone)
	}
}

// Updates returns how many updates were sent to the streams so far.
func (u *UI) Updates() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sent
}

// serveEvents is GET /events: a stream of "update" events (JSON, see
// update) and a comment line every Heartbeat.
func (u *UI) serveEvents(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		return
	}
	s := &subscriber{ch: make(chan []byte, 8), gone: make(chan struct{}), addr: clientAddr(r)}
	u.mu.Lock()
	if u.perClient[s.addr] >= MaxStreamsPerClient {
		u.mu.Unlock()
		u.cfg.Logger.Debug("webui: too many event streams from one client", "remote", r.RemoteAddr)
		h.Set("Retry-After", strconv.Itoa(StreamRetryAfter))
		h.Del("Content-Type")
		http.Error(w, "too many event streams from your address (at most "+strconv.Itoa(MaxStreamsPerClient)+")", http.StatusTooManyRequests)
		return
	}
	if len(u.subs) >= MaxStreams {
		u.mu.Unlock()
		h.Del("Content-Type")
		http.Error(w, "too many event streams", http.StatusServiceUnavailable)
		return
	}
	u.subs[s] = struct{}{}
	u.perClient[s.addr]++
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		if _, ok := u.subs[s]; ok {
			delete(u.subs, s)
			close(s.gone)
		}
		if u.perClient[s.addr]--; u.perClient[s.addr] <= 0 {
			delete(u.perClient, s.addr)
		}
		u.mu.Unlock()
	}()
	rc := http.NewResponseController(w)
	if _, err := w.Write([]byte("retry: 2000\n: gitboot status events\n\n")); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	hb := time.NewTicker(u.cfg.Heartbeat)
	defer hb.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-s.gone:
			return
		case <-hb.C:
			_, err = w.Write([]byte(": keep-alive\n\n"))
		case msg := <-s.ch:
			_, err = w.Write(append(append([]byte("event: update\ndata: "), msg...), '\n', '\n'))
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// clientAddr is the request's client address (zero if unparsable: all
// such requests share one count).
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
