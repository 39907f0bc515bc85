package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Iface is the interface a request arrived on, as the socket loop learns it
// (IP_PKTINFO) when the DHCP socket listens on every interface.
type Iface struct {
	Index int
	Name  string
	Addrs []netip.Addr // its IPv4 addresses
}

// ifaceMaxAge is how long the interface table is trusted before it is read
// again, so an address added or removed is noticed within seconds.
const ifaceMaxAge = 5 * time.Second

// ifaceTable maps interface indexes to their IPv4 addresses, read from the
// network namespace the DHCP socket belongs to (which, in tests, is not
// the namespace of the goroutine reading it). Lookups read an immutable map
// through an atomic pointer; a stale or missing entry makes one reader
// reload it while the others go on with what is there.
type ifaceTable struct {
	ns     *os.File // the socket's namespace when not the process's own; nil: ours
	cur    atomic.Pointer[ifaceSnap]
	mu     sync.Mutex // held by the reloading reader
	failed atomic.Int64
}

type ifaceSnap struct {
	at      time.Time
	byIndex map[int]*Iface
	err     error
}

// newIfaceTable prepares a table for the namespace of conn.
func newIfaceTable(conn syscall.Conn) (*ifaceTable, error) {
	t := &ifaceTable{}
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	nsfd := -1
	var ierr error
	if err := rc.Control(func(fd uintptr) { nsfd, ierr = unix.IoctlRetInt(int(fd), unix.SIOCGSKNS) }); err != nil {
		return nil, err
	}
	if ierr != nil {
		// Kernels before 4.9: the socket is taken to be in our namespace.
		return t, nil
	}
	ns := os.NewFile(uintptr(nsfd), "netns")
	var sockNS, ownNS unix.Stat_t
	if err := unix.Fstat(nsfd, &sockNS); err != nil {
		ns.Close()
		return nil, fmt.Errorf("reading the DHCP socket's network namespace: %w", err)
	}
	if err := unix.Stat("/proc/self/ns/net", &ownNS); err == nil && ownNS.Dev == sockNS.Dev && ownNS.Ino == sockNS.Ino {
		ns.Close()
		return t, nil
	}
	t.ns = ns
	return t, nil
}

// Close releases the namespace handle.
func (t *ifaceTable) Close() {
	if t.ns != nil {
		t.ns.Close()
	}
}

// lookup returns what is known of interface index (an Iface with no
// addresses when the index is not found).
func (t *ifaceTable) lookup(index int, now time.Time) *Iface {
	s := t.cur.Load()
	if s != nil {
		if ifc, ok := s.byIndex[index]; ok && now.Sub(s.at) < ifaceMaxAge {
			return ifc
		}
		if now.Sub(s.at) < time.Second && s.byIndex[index] == nil {
			// Just read, and not there: do not read again for every
			// request until the table is a second old.
			return &Iface{Index: index}
		}
	}
	if t.mu.TryLock() {
		s = t.reload(now)
		t.mu.Unlock()
	} else if s == nil {
		t.mu.Lock() // the very first lookup: wait for the reader
		s = t.cur.Load()
		t.mu.Unlock()
	}
	if s != nil {
		if ifc, ok := s.byIndex[index]; ok {
			return ifc
		}
	}
	return &Iface{Index: index}
}

// reload reads the interfaces and stores the new table; on failure the
// old one stays (with a new time, so it is not read again at once).
func (t *ifaceTable) reload(now time.Time) *ifaceSnap {
	m, err := t.read()
	if err != nil {
		t.failed.Add(1)
		old := t.cur.Load()
		s := &ifaceSnap{at: now, err: err, byIndex: map[int]*Iface{}}
		if old != nil {
			s.byIndex = old.byIndex
		}
		t.cur.Store(s)
		return s
	}
	s := &ifaceSnap{at: now, byIndex: m}
	t.cur.Store(s)
	return s
}

// read lists the interfaces of the socket's namespace and their IPv4
// addresses.
func (t *ifaceTable) read() (map[int]*Iface, error) {
	if t.ns == nil {
		return readIfaces()
	}
	type result struct {
		m   map[int]*Iface
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is returned to the scheduler only once it is back in
		// the process's namespace; otherwise it ends with the goroutine.
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer own.Close()
		if err := unix.Setns(int(t.ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering the DHCP socket's network namespace: %w", err)}
			return
		}
		m, rerr := readIfaces()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("leaving the DHCP socket's network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{m: m, err: rerr}
	}()
	r := <-ch
	return r.m, r.err
}

// readIfaces lists the interfaces of the calling thread's namespace.
func readIfaces() (map[int]*Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	m := make(map[int]*Iface, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("listing addresses of %s: %w", ifi.Name, err)
		}
		ifc := &Iface{Index: ifi.Index, Name: ifi.Name}
		for _, a := range addrs {
			if pn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap().Is4() {
					ifc.Addrs = append(ifc.Addrs, ip.Unmap())
				}
			}
		}
		m[ifi.Index] = ifc
	}
	return m, nil
}
