package gitsrc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// syncBuffer is a log sink the watch goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestWatchOrPollFallsBack makes the inotify watcher fail as the inotify
// limit does and checks that WatchOrPoll logs it, keeps running and still
// notices a push by polling.
func TestWatchOrPollFallsBack(t *testing.T) {
	old := newFSWatcher
	newFSWatcher = func() (*fsnotify.Watcher, error) { return nil, syscall.EMFILE }
	t.Cleanup(func() { newFSWatcher = old })

	work, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ch, done := make(chan struct{}, 100), make(chan struct{})
	go func() {
		src.WatchOrPoll(ctx, "main", 10*time.Millisecond, 50*time.Millisecond, log, func() { ch <- struct{}{} })
		close(done)
	}()
	waitNotify(t, ch, "the watch failed (the catch-up notify)")
	if !strings.Contains(logs.String(), "polling the ref instead") || !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("the failure is not logged as a fallback to polling:\n%s", logs.String())
	}
	for quiet(ch, 200*time.Millisecond) > 0 {
	}
	commit(t, work, "two")
	runGit(t, work, "push", "-q", bare, "main")
	waitNotify(t, ch, "a push while polling")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchOrPoll did not return after its context was done")
	}
}

// TestWatchOrPollReturnsErrorFreeWhenDone: a watch that works returns at
// once when ctx is done, logging nothing.
func TestWatchOrPollWorkingWatch(t *testing.T) {
	_, bare, _ := newRepo(t)
	src, err := Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	src.WatchOrPoll(ctx, "main", 0, 0, slog.New(slog.NewTextHandler(&logs, nil)), func() {})
	if logs.String() != "" {
		t.Errorf("a working watch logged: %s", logs.String())
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("WatchOrPoll returned before its context was done")
	}
}
