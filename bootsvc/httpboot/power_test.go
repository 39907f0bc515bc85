package httpboot

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPowerRoute: POST /power from loopback hands the body to Config.Power
// and returns its answer as is; other methods are 405; without a Power
// func the route is 404. (The 403 for a client elsewhere is covered by
// test/e2e's TestPowerIPMI, from the nodes' network.)
func TestPowerRoute(t *testing.T) {
	var got string
	e := newEnv(t, Config{Power: func(_ context.Context, body []byte) (int, []byte) {
		got = string(body)
		return http.StatusOK, []byte(`{"results":[]}` + "\n")
	}}, nil)
	resp, err := http.Post(e.admin+"/power", "application/json", strings.NewReader(`{"action":"status","all":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"results":[]}`+"\n" || got != `{"action":"status","all":true}` {
		t.Errorf("POST /power: %d %q (handler saw %q)", resp.StatusCode, body, got)
	}
	if c := curlCode(t, e.admin+"/power"); c != "405" {
		t.Errorf("GET /power: %s, want 405", c)
	}
	off := newEnv(t, Config{}, nil)
	if c := curlCode(t, "-X", "POST", "-d", "{}", off.admin+"/power"); c != "404" {
		t.Errorf("POST /power without a Power func: %s, want 404", c)
	}
}
