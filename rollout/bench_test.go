package rollout

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkBatchOverhead measures what a rollout adds to each batch beyond
// the boots and the BMCs: nodes that are back the moment they are power
// cycled, BMCs that answer at once. ns/op is the cost of one batch of one
// node (power status, power cycle, the first status read finding it done,
// the notes records and progress copies); gap/batch is the time from one
// batch's end to the next batch's power cycle.
func BenchmarkBatchOverhead(b *testing.B) {
	for _, poll := range []time.Duration{DefaultPoll, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("poll=%v", poll), func(b *testing.B) {
			names := make([]string, b.N)
			for i := range names {
				names[i] = fmt.Sprintf("n%06d", i)
			}
			s := newSite(names...)
			cfg, _ := config(s, "1", 0, names...)
			cfg.Poll = poll
			b.ResetTimer()
			p := Run(context.Background(), cfg)
			b.StopTimer()
			if p.State != StateCompleted {
				b.Fatalf("%s: %s", p.State, p.Reason)
			}
			var gap time.Duration
			for i := 1; i < len(p.Batches); i++ {
				gap += p.Batches[i].Cycled.Sub(p.Batches[i-1].Ended)
			}
			if len(p.Batches) > 1 {
				b.ReportMetric(float64(gap.Microseconds())/float64(len(p.Batches)-1), "µs-gap/batch")
			}
		})
	}
}
