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

	// The agents' queue is in due order: entries are appended at boot
	// time + interval, and put back at due + interval.
	agentCtx, stopAgents := context.WithCancel(ctx)
	var queue []agentFetch
	var qmu sync.Mutex
	var agents sync.WaitGroup
	agents.Add(1)
	go func() {
		defer agents.Done()
		workers := make(chan struct{}, 256)
		for {
			qmu.Lock()
			var next *agentFetch
			if len(queue) > 0 && !time.Now().Before(queue[0].due) {
				f := queue[0]
				queue = queue[1:]
				next = &f
			}
			qmu.Unlock()
			if next == nil {
				if !sleep(agentCtx, 50*time.Millisecond) {
					return
				}
				continue
			}
			select {
			case workers <- struct{}{}:
			case <-agentCtx.Done():
				return
			}
			agents.Add(1)
			go func(f agentFetch) {
				defer func() { <-workers; agents.Done() }()
				t := time.Now()
				c := agentClient(f.n.ip)
				_, size, tag, err := fetch(agentCtx, c, base+"/runtime/"+f.n.mac.String(), f.etag, false)
				if agentCtx.Err() != nil {
					return
				}
				if err != nil {
					s.rec.fail(stAgent, err)
				} else {
					s.rec.ok(stAgent, time.Since(t), 0, size)
					f.etag = tag
				}
				f.due = f.due.Add(agentEvery)
				qmu.Lock()
				// Keep the order: insert at its place (almost always the end).
				i := sort.Search(len(queue), func(i int) bool { return queue[i].due.After(f.due) })
				queue = append(queue, agentFetch{})
				copy(queue[i+1:], queue[i:])
				queue[i] = f
				qmu.Unlock()
			}(*next)
		}
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
				qmu.Lock()
				f := agentFetch{n: n, due: now.Add(agentEvery)}
				i := sort.Search(len(queue), func(i int) bool { return queue[i].due.After(f.due) })
				queue = append(queue, agentFetch{})
				copy(queue[i+1:], queue[i:])
				queue[i] = f
				qmu.Unlock()
			}
		}(n, at)
	}
	boots.Wait()
	stopAgents()
	agents.Wait()
	res.failed = len(nodes) - res.booted
	return res
}

// agentClient is gitboot-agent's client: no keep-alive (one request per
// interval), from the node's own address.
func agentClient(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy: nil, DialContext: d.DialContext, DisableKeepAlives: true, DisableCompression: true,
	}}
}
