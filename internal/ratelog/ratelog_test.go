package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/internal/netnstest"
)

// A flood of lines is cut to the burst, the dropped ones are counted, and
// the next line written once the rate allows names how many were dropped.
func TestFloodIsCountedInTheNextLine(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 200*time.Millisecond, 5)
	for i := 0; i < 1000; i++ {
		l.Warn("bad request", "n", i)
	}
	if got := strings.Count(buf.String(), "bad request"); got < 5 || got > 8 {
		t.Fatalf("%d lines written for 1000 within the burst of 5:\n%s", got, buf.String())
	}
	if strings.Contains(buf.String(), "suppressed=") {
		t.Fatalf("a line within the burst carries a count:\n%s", buf.String())
	}
	dropped := l.Suppressed()
	if dropped < 992 {
		t.Fatalf("Suppressed() = %d, want >= 992", dropped)
	}
	time.Sleep(450 * time.Millisecond) // refill at least one token
	buf.Reset()
	if !l.Warn("bad request", "n", "after") {
		t.Fatal("line refused after the rate refilled")
	}
	line := buf.String()
	if !strings.Contains(line, "n=after") || !strings.Contains(line, "suppressed=") {
		t.Fatalf("line after the flood: %q, want suppressed=N", line)
	}
	buf.Reset()
	l.Warn("bad request", "n", "again")
	if strings.Contains(buf.String(), "suppressed=") {
		t.Fatalf("the count is reported twice: %q", buf.String())
	}
}

// Debug lines the handler does not log use no token: they cannot starve
// the warnings.
func TestDisabledLevelCostsNothing(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), time.Hour, 2)
	for i := 0; i < 100; i++ {
		l.Debug("noise")
	}
	if l.Suppressed() != 0 {
		t.Fatalf("disabled debug lines counted as suppressed: %d", l.Suppressed())
	}
	if !l.Warn("first") || !l.Warn("second") || l.Warn("third") {
		t.Fatalf("burst of 2 not honoured after disabled debug lines:\n%s", buf.String())
	}
}

// Concurrent writers never write more than the burst plus what the rate
// refills, and every line is either written or counted.
func TestConcurrent(t *testing.T) {
	var buf netnstest.SyncBuffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour, 10)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				l.Info("x")
			}
		}()
	}
	wg.Wait()
	written := strings.Count(buf.String(), "msg=x")
	if written != 10 || uint64(written)+l.Suppressed() != 4000 {
		t.Fatalf("written %d, suppressed %d: want 10 and 3990", written, l.Suppressed())
	}
}
