package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/internal/statefile"
)

// LeaseFile is the name of the lease file in the state directory.
const LeaseFile = "dhcp-leases.json"

const (
	offerHold   = time.Minute      // how long an offered address is kept for its client
	declineHold = 10 * time.Minute // how long a declined address rests
	maxScan     = 1 << 16          // addresses examined per offer, at most
)

// Lease states.
const (
	stateOffered  = "offered"
	stateBound    = "bound"
	stateDeclined = "declined"
)

// Lease is one dynamic address given to an unknown MAC.
type Lease struct {
	MAC     string     `json:"mac"` // empty for a declined address
	Addr    netip.Addr `json:"addr"`
	State   string     `json:"state"`
	Expires time.Time  `json:"expires"`
}

// storeError marks a failure to persist a lease: the client is not
// answered (it retries) rather than refused.
type storeError struct{ err error }

func (e storeError) Error() string { return "saving leases: " + e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// Leases is the dynamic address pool: one lease per address and per MAC,
// bound leases kept in a file in the state directory (written atomically)
// so they survive restarts. Offers live in memory only. Safe for
// concurrent use; memory is bounded by the size of the dynamic ranges.
type Leases struct {
	path string // "" keeps leases in memory only

	mu     sync.Mutex
	byAddr map[netip.Addr]*Lease
	byMAC  map[string]*Lease
}

// OpenLeases loads the lease file from stateDir (a missing file is an empty
// pool; a damaged one is a *statefile.CorruptError). An empty stateDir
// keeps leases in memory only.
func OpenLeases(stateDir string) (*Leases, error) {
	l := &Leases{byAddr: map[netip.Addr]*Lease{}, byMAC: map[string]*Lease{}}
	if stateDir == "" {
		return l, nil
	}
	l.path = filepath.Join(stateDir, LeaseFile)
	b, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	var f leaseFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, statefile.Corrupt(l.path, err)
	}
	for i := range f.Leases {
		le := f.Leases[i]
		if !le.Addr.Is4() || (le.State != stateBound && le.State != stateDeclined) {
			continue
		}
		l.put(&le)
	}
	return l, nil
}

type leaseFile struct {
	Version int     `json:"version"`
	Leases  []Lease `json:"leases"`
}

// All returns a copy of every lease, sorted by address.
func (l *Leases) All() []Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Lease, 0, len(l.byAddr))
	for _, le := range l.byAddr {
		out = append(out, *le)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

func (l *Leases) put(le *Lease) {
	l.byAddr[le.Addr] = le
	if le.MAC != "" {
		l.byMAC[le.MAC] = le
	}
}

func (l *Leases) drop(le *Lease) {
	if l.byAddr[le.Addr] == le {
		delete(l.byAddr, le.Addr)
	}
	if le.MAC != "" && l.byMAC[le.MAC] == le {
		delete(l.byMAC, le.MAC)
	}
}

// free reports whether addr may be given to mac now.
func (l *Leases) free(addr netip.Addr, mac string, now time.Time) bool {
	le, ok := l.byAddr[addr]
	if !ok || !now.Before(le.Expires) {
		return true
	}
	return le.MAC == mac && le.State != stateDeclined
}

func inRange(n *bootsvc.Network, a netip.Addr) bool {
	return a.Is4() && n.HasDynamicRange() && n.DynamicStart.Compare(a) <= 0 && a.Compare(n.DynamicEnd) <= 0
}

// Offer picks an address for mac in n's dynamic range: its current lease,
// else want, else the first free one. The address is held for a minute.
func (l *Leases) Offer(mac string, n *bootsvc.Network, want netip.Addr, taken func(netip.Addr) bool, now time.Time) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	usable := func(a netip.Addr) bool { return inRange(n, a) && !taken(a) && l.free(a, mac, now) }
	if le, ok := l.byMAC[mac]; ok && now.Before(le.Expires) && usable(le.Addr) {
		if le.State == stateOffered {
			le.Expires = now.Add(offerHold)
		}
		return le.Addr, true
	}
	pick := netip.Addr{}
	if usable(want) {
		pick = want
	} else {
		a := n.DynamicStart
		for i := 0; i < maxScan && a.IsValid() && a.Compare(n.DynamicEnd) <= 0; i, a = i+1, a.Next() {
			if usable(a) {
				pick = a
				break
			}
		}
	}
	if !pick.IsValid() {
		return netip.Addr{}, false
	}
	if old, ok := l.byMAC[mac]; ok {
		l.drop(old)
	}
	if old, ok := l.byAddr[pick]; ok {
		l.drop(old)
	}
	l.put(&Lease{MAC: mac, Addr: pick, State: stateOffered, Expires: now.Add(offerHold)})
	return pick, true
}

// Commit binds addr to mac for n's lease time and saves the pool. It fails
// when the address is outside the range, reserved, or held by another MAC.
func (l *Leases) Commit(mac string, n *bootsvc.Network, addr netip.Addr, taken func(netip.Addr) bool, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !inRange(n, addr):
		return fmt.Errorf("address %s is not in the dynamic range of %s", addr, n.Name)
	case taken(addr):
		return fmt.Errorf("address %s is reserved", addr)
	case !l.free(addr, mac, now):
		return fmt.Errorf("address %s is leased to another client", addr)
	}
	if old, ok := l.byMAC[mac]; ok {
		l.drop(old)
	}
	if old, ok := l.byAddr[addr]; ok {
		l.drop(old)
	}
	le := &Lease{MAC: mac, Addr: addr, State: stateBound, Expires: now.Add(lease(n))}
	l.put(le)
	if err := l.saveLocked(); err != nil {
		l.drop(le)
		return storeError{err}
	}
	return nil
}

// Release ends mac's lease (on addr, or any address when addr is zero).
func (l *Leases) Release(mac string, addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	le, ok := l.byMAC[mac]
	if !ok || (addr.IsValid() && le.Addr != addr) {
		return
	}
	l.drop(le)
	if le.State == stateBound {
		_ = l.saveLocked()
	}
}

// Decline marks addr, which mac found in use on the wire, unusable for a
// while.
func (l *Leases) Decline(mac string, addr netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	le, ok := l.byAddr[addr]
	if !ok || le.MAC != mac {
		return
	}
	l.drop(le)
	l.put(&Lease{Addr: addr, State: stateDeclined, Expires: now.Add(declineHold)})
	_ = l.saveLocked()
}

// saveLocked writes bound and declined leases to the lease file: a temp
// file, fsync, rename, fsync of the directory.
func (l *Leases) saveLocked() error {
	if l.path == "" {
		return nil
	}
	f := leaseFile{Version: 1, Leases: []Lease{}}
	for _, le := range l.byAddr {
		if le.State == stateBound || le.State == stateDeclined {
			f.Leases = append(f.Leases, *le)
		}
	}
	sort.Slice(f.Leases, func(i, j int) bool { return f.Leases[i].Addr.Less(f.Leases[j].Addr) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(l.path, append(b, '\n'), 0o600)
}
