package httpboot

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/status"
)

func post(t *testing.T, c *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestInitFailedReport: POST /init-failed/{mac} records INIT_FAILED with
// the reason on the node, only from the node's own address; the reason is
// one line of at most MaxInitFailedReason bytes.
func TestInitFailedReport(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	c1, c2 := clientFrom(net.IPv4(127, 0, 0, 1), false), clientFrom(net.IPv4(127, 0, 0, 2), false)

	// c002 (127.0.0.2) reports: recorded, control characters gone.
	code, body := post(t, c2, e.base+"/init-failed/52:54:00:00:00:02", "no init to exec:\n\ttried /sbin/init\x1b[31m /etc/init\x00\n")
	if code != http.StatusOK || body != "recorded\n" {
		t.Fatalf("c002's own report: %d %q", code, body)
	}
	r, _ := e.store.Node("c002")
	const want = "no init to exec: tried /sbin/init [31m /etc/init"
	if r.Error == nil || r.Error.Stage != status.StageInitFailed || r.Error.Reason != want || r.Addr.String() != "127.0.0.2" {
		t.Fatalf("c002 after its report: %+v %+v", r, r.Error)
	}
	var found bool
	for _, n := range e.report(t).Nodes {
		if n.Name == "c002" && n.Error != nil && n.Error.Reason == want {
			found = true
		}
	}
	if !found {
		t.Fatal("GET /status lacks c002's INIT_FAILED reason")
	}

	// c001's address may not speak for c002: 403, and c002's record keeps
	// its own report.
	if code, _ := post(t, c1, e.base+"/init-failed/52:54:00:00:00:02", "forged"); code != http.StatusForbidden {
		t.Fatalf("a report for c002 from c001's address: %d, want 403", code)
	}
	if r, _ := e.store.Node("c002"); r.Error == nil || r.Error.Reason != want {
		t.Fatalf("a forged report changed c002: %+v", r.Error)
	}

	// A long report is cut; an empty one says so.
	code, _ = post(t, c1, e.base+"/init-failed/52:54:00:00:00:01", strings.Repeat("x", 5000))
	r, _ = e.store.Node("c001")
	if code != http.StatusOK || r.Error == nil || len(r.Error.Reason) != MaxInitFailedReason {
		t.Fatalf("a 5000-byte report: %d, reason of %d bytes", code, len(r.Error.Reason))
	}
	post(t, c1, e.base+"/init-failed/52:54:00:00:00:01", " \n")
	if r, _ = e.store.Node("c001"); r.Error.Reason != "(no reason given)" {
		t.Fatalf("an empty report: %q", r.Error.Reason)
	}

	// GET is 405, an unknown MAC 404; a malformed path is refused like any
	// other non-GET request to no route (405).
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/init-failed/52:54:00:00:00:01", http.StatusMethodNotAllowed},
		{"POST", "/init-failed/52:54:00:00:00:99", http.StatusNotFound},
		{"POST", "/init-failed/52:54:00:00:00", http.StatusMethodNotAllowed},
		{"POST", "/init-failed/52:54:00:00:00:01/x", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, e.base+tc.path, strings.NewReader("x"))
		resp, err := c1.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}
