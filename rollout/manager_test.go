package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// managerSite is a Manager whose rollouts run on s; node c1 never comes
// back, so a rollout stays running until stopped.
func managerSite(t *testing.T) (*Manager, *fakeSite) {
	s := newSite("c1", "c2")
	s.nodes["c1"].never = true
	m := NewManager(ManagerConfig{Prepare: func(_ context.Context, req Request) (Config, error) {
		if req.Batch == "bad" {
			return Config{}, errors.New("batch \"bad\": want a number")
		}
		cfg, _ := config(s, "1", 0, "c1", "c2")
		cfg.Timeout = time.Minute
		return cfg, nil
	}})
	t.Cleanup(m.Close)
	return m, s
}

func TestManagerOneAtATimeAndSupersede(t *testing.T) {
	m, s := managerSite(t)
	p, err := m.Start(context.Background(), Request{})
	if err != nil || p.State != StateRunning {
		t.Fatalf("Start: %v, %+v", err, p)
	}
	if _, err := m.Start(context.Background(), Request{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Start: %v, want ErrBusy", err)
	}
	if p, err := m.Start(context.Background(), Request{DryRun: true}); err != nil || p.State != StatePlanned || len(p.Batches) != 2 {
		t.Fatalf("a dry run while one runs: %v %+v", err, p)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(m.Current().Rebooting()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if m.Supersede(commitB) {
		t.Fatal("Supersede with the same commit stopped the rollout")
	}
	if !m.Supersede("cccccccccccccccccccccccccccccccccccccccc") {
		t.Fatal("Supersede with a newer commit did not stop it")
	}
	cur := m.Current()
	if cur.State != StateSuperseded || states(cur)["c2"] != NodePending {
		t.Fatalf("after Supersede: %s %v", cur.State, states(cur))
	}
	s.mu.Lock()
	n := len(s.cycles)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d power cycles, want only c1's", n)
	}
	if _, err := m.Start(context.Background(), Request{}); err != nil {
		t.Fatalf("Start after the supersede: %v", err)
	}
	m.Close()
	if cur := m.Current(); cur.State != StateCanceled || cur.Reason != "the server is stopping" {
		t.Fatalf("after Close: %s (%s)", cur.State, cur.Reason)
	}
	if _, err := m.Start(context.Background(), Request{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v, want ErrClosed", err)
	}
}

func TestManagerHTTP(t *testing.T) {
	m, _ := managerSite(t)
	srv := httptest.NewServer(m)
	defer srv.Close()
	do := func(method, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+"/rollout", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	if code, v := do("GET", ""); code != 200 || len(v) != 0 {
		t.Fatalf("GET before any rollout: %d %v", code, v)
	}
	if code, v := do("POST", `{"batch":"bad"}`); code != 400 || !strings.Contains(v["error"].(string), "bad") {
		t.Fatalf("bad request: %d %v", code, v)
	}
	if code, v := do("POST", `{"bogus":1}`); code != 400 || !strings.Contains(v["error"].(string), "bogus") {
		t.Fatalf("unknown field: %d %v", code, v)
	}
	if code, v := do("POST", `{"dry_run":true}`); code != 200 || v["state"] != StatePlanned {
		t.Fatalf("dry run: %d %v", code, v)
	}
	if code, v := do("POST", `{}`); code != 202 || v["state"] != StateRunning {
		t.Fatalf("start: %d %v", code, v)
	}
	if code, _ := do("POST", `{}`); code != 409 {
		t.Fatalf("second start: %d, want 409", code)
	}
	if code, v := do("GET", ""); code != 200 || v["id"] != "r1" {
		t.Fatalf("GET: %d %v", code, v)
	}
	if code, v := do("DELETE", ""); code != 200 || v["state"] != StateCanceled {
		t.Fatalf("DELETE: %d %v", code, v)
	}
	if code, _ := do("DELETE", ""); code != 404 {
		t.Fatalf("DELETE with none running: %d", code)
	}
}
