package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReportInitFailed: --report-init-failed POSTs the reason to
// /init-failed/{mac}, retries a failed answer, exits 0 once recorded and 1
// when the server never records it; a long reason is cut at 1 KiB.
func TestReportInitFailed(t *testing.T) {
	old := reportRetry
	reportRetry = 10 * time.Millisecond
	defer func() { reportRetry = old }()

	var mu sync.Mutex
	var paths, bodies []string
	answers := []int{http.StatusServiceUnavailable, http.StatusOK}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		bodies = append(bodies, string(b))
		code := http.StatusNotFound
		if len(answers) > 0 {
			code, answers = answers[0], answers[1:]
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()

	var stderr bytes.Buffer
	why := "no init to exec: tried /sbin/init /etc/init /bin/init"
	code := run(append([]string{"--server", srv.URL, "--mac", "52:54:00:AA:00:01", "--report-init-failed", why}, trustFlags(t)...), &stderr, func() string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if len(paths) != 2 || paths[1] != "POST /init-failed/52:54:00:aa:00:01" || bodies[1] != why {
		t.Fatalf("requests %q, bodies %q", paths, bodies)
	}

	// The server refuses every time: 1, after reportAttempts tries.
	paths, bodies = nil, nil
	stderr.Reset()
	code = run(append([]string{"--server", srv.URL, "--mac", "52:54:00:aa:00:01", "--report-init-failed", strings.Repeat("x", 3000)}, trustFlags(t)...), &stderr, func() string { return "" })
	if code != 1 || len(paths) != reportAttempts || !strings.Contains(stderr.String(), "404") {
		t.Fatalf("exit %d after %d requests: %s", code, len(paths), stderr.String())
	}
	if len(bodies[0]) != maxReason {
		t.Fatalf("a 3000-byte reason sent as %d bytes", len(bodies[0]))
	}
}
