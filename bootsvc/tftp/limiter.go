package tftp

import (
	"errors"
	"net/netip"
	"sync"
)

// DefaultMaxPerClient is Config.MaxPerClient's default: firmware fetches
// one file at a time, so 8 leaves room for retries and a tsize probe while
// one host cannot take more than a sliver of MaxTransfers.
const DefaultMaxPerClient = 8

// errClientBusy answers a client over its share of transfers.
var errClientBusy = errors.New("too many transfers from this address, try again")

// clientSlots counts the transfers running per client address.
type clientSlots struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newClientSlots(max int) *clientSlots {
	return &clientSlots{max: max, n: map[netip.Addr]int{}}
}

// acquire takes a slot for addr, or reports false when addr already holds
// max transfers.
func (c *clientSlots) acquire(addr netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr] >= c.max {
		return false
	}
	c.n[addr]++
	return true
}

// release gives back a slot acquire took; the map forgets addresses
// holding none, so it stays as small as the set of active clients.
func (c *clientSlots) release(addr netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[addr] <= 1 {
		delete(c.n, addr)
		return
	}
	c.n[addr]--
}

// running is the number of transfers addr holds.
func (c *clientSlots) running(addr netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[addr]
}
