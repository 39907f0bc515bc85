package webui

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// storeWith10k is a store where each of 10,000 nodes booted once.
func storeWith10k(b testing.TB) (*bootsvc.Snapshot, *status.Store) {
	snap := testSnapshot(10000)
	store := status.NewMemory()
	t0 := time.Now().Add(-time.Hour)
	for i := range snap.Nodes {
		for k, st := range status.BootStages {
			store.Record(status.Event{Node: snap.Nodes[i].Name, Stage: st, Sent: "f", Time: t0.Add(time.Duration(i%40+k) * time.Second)})
		}
	}
	return snap, store
}

// BenchmarkRenderPage10k renders GET / for 10,000 nodes (bytes/op is the
// page size).
func BenchmarkRenderPage10k(b *testing.B) {
	snap, store := storeWith10k(b)
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	ui.ServeHTTP(w, req)
	b.SetBytes(int64(w.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ui.ServeHTTP(discardWriter{httptest.NewRecorder()}, req)
	}
}

type discardWriter struct{ *httptest.ResponseRecorder }

func (d discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }

// BenchmarkUpdateStorm10k: one coalesced update after every one of
// 10,000 nodes changed stage (the worst case of a boot storm: the whole
// cluster in one update); ns/op is the time to build it.
func BenchmarkUpdateStorm10k(b *testing.B) {
	snap, store := storeWith10k(b)
	ui := New(Config{Status: store, Snapshot: func() *bootsvc.Snapshot { return snap }})
	store.Watch()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		for i := range snap.Nodes {
			store.Record(status.Event{Node: snap.Nodes[i].Name, Stage: status.StageDHCP})
		}
		size = len(ui.update())
	}
	b.ReportMetric(float64(size), "bytes/update")
}

// BenchmarkRecordWatched is the cost of one event in the store with a live
// page watching (O(1): a map insert and a non-blocking send).
func BenchmarkRecordWatched(b *testing.B) {
	snap, store := storeWith10k(b)
	store.Watch()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		store.Record(status.Event{Node: snap.Nodes[i%len(snap.Nodes)].Name, Stage: status.StageKernel})
		i++
	}
}
