package status

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Record must not wait while a reader holds the store (a /status or web
// view copying 10,000 rows): the event is queued, and the first read after
// the reader lets go sees it.
func TestRecordDoesNotWaitForReaders(t *testing.T) {
	s := NewMemory()
	s.mu.Lock() // a reader in the middle of its copy
	done := make(chan struct{})
	go func() {
		s.Record(Event{Node: "n1", MAC: "02:00:00:00:00:01", Stage: StageTFTP, Sent: "undionly.kpxe"})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.mu.Unlock()
		t.Fatal("Record waited for the lock a reader holds")
	}
	s.unlock()
	r, ok := s.Node("n1")
	if !ok || r.Stage != StageTFTP || r.Sent != "undionly.kpxe" {
		t.Fatalf("after the reader let go: %+v (found %v), want the queued TFTP event", r, ok)
	}
}

// Under concurrent recorders and readers no event is lost or reordered
// per node: every node ends at the last stage its goroutine recorded, and
// the stage counts add up.
func TestQueuedRecordsAreNeverLost(t *testing.T) {
	s := NewMemory()
	wake := s.Watch()
	const nodes, rounds = 64, 200
	stages := []Stage{StageDHCP, StageTFTP, StageIPXE, StageKernel, StageImage, StageSystemOverlay, StageRuntimeOverlay}
	names := make([]string, nodes)
	for i := range names {
		names[i] = fmt.Sprintf("n%03d", i)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Rows(names)
				s.TakeChanges()
			}
		}()
	}
	var writers sync.WaitGroup
	for _, n := range names {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range rounds {
				s.Record(Event{Node: n, Stage: stages[i%len(stages)], Sent: fmt.Sprint(i)})
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	last := stages[(rounds-1)%len(stages)]
	for _, r := range s.Rows(names) {
		if r.Stage != last || r.Sent != fmt.Sprint(rounds-1) {
			t.Fatalf("%s ends at %s %q, want %s %q", r.Name, r.Stage, r.Sent, last, fmt.Sprint(rounds-1))
		}
	}
	if c := s.StageCounts(); c[last] != nodes || len(c) != 1 {
		t.Fatalf("stage counts %v, want %d at %s", c, nodes, last)
	}
	select {
	case <-wake:
	default:
		t.Fatal("the watcher was not woken")
	}
}
