package status

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFlush writes the state file of a 10,000-node storm, every node
// at RUNTIME_OVERLAY with its boot artifacts: what the store's writer does
// every FlushInterval while a storm changes it.
func BenchmarkFlush(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i := range 10000 {
		name, mac := fmt.Sprintf("node%05d", i), fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff)
		for j, st := range []Stage{StageDHCP, StageTFTP, StageIPXE, StageKernel, StageImage, StageSystemOverlay, StageRuntimeOverlay} {
			s.Record(Event{Node: name, MAC: mac, Stage: st, Sent: string(st), Digest: fmt.Sprintf("sha256:%064d", j), Commit: "0123456789abcdef", Time: t0.Add(time.Duration(j) * time.Second)})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.mu.Lock()
		s.gen++
		s.mu.Unlock()
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
