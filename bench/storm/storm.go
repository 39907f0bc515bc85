package main

import (
	"context"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// result is what one storm against one target measured.
type result struct {
	start, lastDone time.Time
	failed          int
	booted          int
	boot            []time.Duration // each booted node's power-on -> runtime overlay
}

// newNode makes node i with its HTTP clients: the boot one keeps its
// connection alive between files, as iPXE does; both connect from the
// node's own address.
func newNode(i int, mac net.HardwareAddr, ip net.IP) *node {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 15 * time.Second}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}
	return &node{i: i, mac: mac, ip: ip, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// agentFetch is one pending agent fetch.
type agentFetch struct {
	n    *node
	due  time.Time
	etag string
}

// run plays the storm: node i powers on at start + spread*i/N (at most
// maxActive booting at once: a node waits for a slot, which bounds the
// sockets and goroutines); a booted node's agent then fetches base +
// /runtime/{mac} every agentEvery (at most 256 fetches at once) until the
// last node has booted. It returns when every node booted or gave up.
func (s *sim) run(ctx context.Context, nodes []*node, spread time.Duration, maxActive int, base string, agentEvery time.Duration) result {
	res := result{start: time.Now()}
	var mu sync.Mutex
	slots := make(chan struct{}, maxActive)

	agentCtx, stopAgents := context.WithCancel(ctx)
	queue := &agentQueue{}
	var agents sync.WaitGroup
	agents.Add(1)
	go func() {
		defer agents.Done()
		s.runAgents(agentCtx, queue, &agents, base, agentEvery)
	}()

	var boots sync.WaitGroup
	for i, n := range nodes {
		at := res.start.Add(time.Duration(int64(spread) * int64(i) / int64(len(nodes))))
		if !sleep(ctx, time.Until(at)) {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		boots.Add(1)
		go func(n *node, at time.Time) {
			defer boots.Done()
			err := s.boot(ctx, n)
			<-slots
			now := time.Now()
			mu.Lock()
			if err != nil {
				res.failed++
			} else {
				res.booted++
				res.boot = append(res.boot, now.Sub(at))
				if now.After(res.lastDone) {
					res.lastDone = now
				}
			}
			mu.Unlock()
			if err == nil {
				queue.add(agentFetch{n: n, due: now.Add(agentEvery)})
			}
		}(n, at)
	}
	boots.Wait()
	stopAgents()
	agents.Wait()
	res.failed = len(nodes) - res.booted
	return res
}

// agentQueue is the agents' pending fetches in due order: entries are
// added at boot time + interval, and put back at due + interval.
type agentQueue struct {
	mu sync.Mutex
	q  []agentFetch
}

// add inserts f at its place in due order (almost always the end).
func (q *agentQueue) add(f agentFetch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := sort.Search(len(q.q), func(i int) bool { return q.q[i].due.After(f.due) })
	q.q = append(q.q, agentFetch{})
	copy(q.q[i+1:], q.q[i:])
	q.q[i] = f
}

// take removes and returns the first fetch when it is due at now.
func (q *agentQueue) take(now time.Time) (agentFetch, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.q) == 0 || now.Before(q.q[0].due) {
		return agentFetch{}, false
	}
	f := q.q[0]
	q.q = q.q[1:]
	return f, true
}

// runAgents performs the queued agent fetches as they fall due, at most 256
// at once, until ctx is done; agents counts the fetches running.
func (s *sim) runAgents(ctx context.Context, queue *agentQueue, agents *sync.WaitGroup, base string, agentEvery time.Duration) {
	workers := make(chan struct{}, 256)
	for {
		next, ok := queue.take(time.Now())
		if !ok {
			if !sleep(ctx, 50*time.Millisecond) {
				return
			}
			continue
		}
		select {
		case workers <- struct{}{}:
		case <-ctx.Done():
			return
		}
		agents.Add(1)
		go func(f agentFetch) {
			defer func() { <-workers; agents.Done() }()
			s.fetchRuntime(ctx, f, queue, base, agentEvery)
		}(next)
	}
}

// fetchRuntime is one fetch of node f.n's runtime overlay (conditional on
// the ETag it has), recorded, then queued again agentEvery later.
func (s *sim) fetchRuntime(ctx context.Context, f agentFetch, queue *agentQueue, base string, agentEvery time.Duration) {
	t := time.Now()
	c := agentClient(f.n.ip)
	_, size, tag, err := fetch(ctx, c, base+"/runtime/"+f.n.mac.String(), f.etag, false)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.rec.fail(stAgent, err)
	} else {
		s.rec.ok(stAgent, time.Since(t), 0, size)
		f.etag = tag
	}
	f.due = f.due.Add(agentEvery)
	queue.add(f)
}

// agentClient is gitboot-agent's client: no keep-alive (one request per
// interval), from the node's own address.
func agentClient(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy: nil, DialContext: d.DialContext, DisableKeepAlives: true, DisableCompression: true,
	}}
}
