package status

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRecordWhileReading: boot services recording stages (parallel)
// while a reader copies a 10,000-node table over and over (GET /status,
// the web view, the state file writer do): ns/op is what one Record costs
// its caller on average, p99-ns and max-ns the slowest calls (the request
// path's wait for the reader).
func BenchmarkRecordWhileReading(b *testing.B) {
	s := NewMemory()
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("n%05d", i)
		s.Record(Event{Node: names[i], Stage: StageDHCP})
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			s.Rows(names)
		}
	}()
	var k atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := k.Add(1)
			t := time.Now()
			s.Record(Event{Node: names[i%int64(len(names))], Stage: StageTFTP, Sent: "undionly.kpxe"})
			mine = append(mine, time.Since(t))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	stop.Store(true)
	<-done
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(all[len(all)-1].Nanoseconds()), "max-ns")
}
