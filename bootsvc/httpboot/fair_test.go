package httpboot

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loopbackHost is a distinct local address per i (127.1.0.0/16 and up),
// standing for a different client host.
func loopbackHost(i int) net.IP {
	return net.IPv4(127, byte(1+i>>16), byte(i>>8), byte(i))
}

// clientFrom is an HTTP client whose connections come from ip.
func clientFrom(ip net.IP, keepAlive bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	return &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: !keepAlive}}
}

// idleConn opens a connection from ip, makes one request on it and reads
// the answer, leaving it open: an idle keep-alive connection. It returns
// the status (0 when the server did not answer within wait).
func idleConn(t *testing.T, addr string, ip net.IP, wait time.Duration) (net.Conn, int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return c, 0
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Time{})
	return c, resp.StatusCode
}

// TestOneAddressCannotHoldAllConns: one host opens 1,100 keep-alive
// connections (more than the 1,024 the server serves at once) and leaves
// them idle. It is served on 64 of them, 64 more wait, the rest get 503 at
// once; requests from other hosts go on being served.
func TestOneAddressCannotHoldAllConns(t *testing.T) {
	e := newEnv(t, Config{IdleTimeout: time.Minute}, nil)
	addr := e.base[len("http://"):]
	hog := net.IPv4(127, 0, 0, 2)
	// Its first 64 are served and left idle.
	for i := range DefaultMaxConnsPerClient {
		if _, code := idleConn(t, addr, hog, 10*time.Second); code != 200 {
			t.Fatalf("hog connection %d: %d", i, code)
		}
	}
	// The other 1,036 come at once: 64 wait, the rest get 503.
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				_, code := idleConn(t, addr, hog, 2*time.Second)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	for range 1100 - DefaultMaxConnsPerClient {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	// 0: no answer (parked, or a 503 not read in time on a loaded machine).
	if codes[200] != 0 || codes[503] == 0 || codes[0]+codes[503] != 1100-DefaultMaxConnsPerClient {
		t.Fatalf("answers to the hog's connections beyond its 64: %v; want no 200, 503s, the rest unanswered", codes)
	}
	st := e.h.ConnStats()
	if st.Open != DefaultMaxConnsPerClient || st.Parked != DefaultMaxConnsPerClient || st.Refused != 972 {
		t.Fatalf("conn stats %+v", st)
	}
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := clientFrom(loopbackHost(i), false).Get(e.base + "/ipxe/52:54:00:00:00:01")
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("host %s: %s", loopbackHost(i), resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := strings.Count(e.log.String(), "too many from this address"); n == 0 || n > 2*e.h.bad.Burst() {
		t.Errorf("%d log lines for 972 refused connections, want 1..%d", n, 2*e.h.bad.Burst())
	}
}

// TestIdleReapedNearCap: 64 hosts each leave one keep-alive connection
// idle, filling every slot of a 64-connection server whose idle timeout is
// a minute. Near the cap, idle connections are closed after the short
// idle timeout, so a new host is served, and well before the minute.
func TestIdleReapedNearCap(t *testing.T) {
	e := newEnv(t, Config{MaxConns: 64, IdleTimeout: time.Minute, ShortIdleTimeout: 300 * time.Millisecond}, nil)
	addr := e.base[len("http://"):]
	var conns []net.Conn
	for i := range 64 {
		c, code := idleConn(t, addr, loopbackHost(i), 10*time.Second)
		if i < 60 && code != 200 { // the last 4 are the reserve: maybe reaped first
			t.Fatalf("host %d: %d", i, code)
		}
		conns = append(conns, c)
	}
	resp, err := clientFrom(loopbackHost(1000), false).Get(e.base + "/healthz")
	if err != nil {
		t.Fatalf("a new host next to 64 idle connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a new host: %s", resp.Status)
	}
	// The idle connections were closed by the server: reading one ends.
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if st := e.h.ConnStats(); closed == 0 || st.Reaped == 0 {
		t.Fatalf("%d idle connections closed by the server, stats %+v", closed, st)
	}
}

// TestTenThousandAddresses: 10,000 clients, each from its own address, all
// at once against the default limits: every one is served. The clients run
// in a child process (this test binary again), so that each side has its
// own open-file limit for its 10,000 ends.
func TestTenThousandAddresses(t *testing.T) {
	const clients = 10000
	e := newEnv(t, Config{}, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperManyClients$", "-test.v")
	cmd.Env = append(os.Environ(), "GITBOOT_TEST_CLIENTS_URL="+e.base+"/ipxe/52:54:00:00:00:01",
		"GITBOOT_TEST_CLIENTS="+strconv.Itoa(clients))
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("all served")) {
		t.Fatalf("clients: %v\n%s", err, out)
	}
	if st := e.h.ConnStats(); st.Refused != 0 || st.Expired != 0 {
		t.Fatalf("connections refused or expired: %+v", st)
	}
}

// TestHelperManyClients is the client side of TestTenThousandAddresses;
// it does nothing unless that test runs it.
func TestHelperManyClients(t *testing.T) {
	url := os.Getenv("GITBOOT_TEST_CLIENTS_URL")
	if url == "" {
		t.Skip("run by TestTenThousandAddresses")
	}
	clients, _ := strconv.Atoi(os.Getenv("GITBOOT_TEST_CLIENTS"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	fails := map[string]int{}
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := clientFrom(loopbackHost(i), false).Get(url)
			why := ""
			if err != nil {
				why = err.Error()
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					why = resp.Status
				}
			}
			if why != "" {
				mu.Lock()
				fails[why]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("failures among %d clients from distinct addresses: %v", clients, fails)
	}
	fmt.Printf("all served: %d clients from %d addresses\n", clients, clients)
}

// Range: bytes=-0 selects no byte: 416 with Content-Range bytes */size,
// never a 206 with an invalid range; other ranges are unchanged.
func TestRangeEmptySuffix(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	node, _ := e.h.Snapshot().NodeByName("c001")
	img := node.Artifacts.Image
	orig, err := os.ReadFile(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	size := strconv.Itoa(len(orig))
	get := func(path, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.base+path, nil)
		req.Header.Set("Range", rng)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, rng := range []string{"bytes=-0", "bytes=-000", "bytes= -0 , -0"} {
		resp, _ := get("/image/52:54:00:00:00:01", rng)
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != "bytes */"+size {
			t.Errorf("Range %q: %s, Content-Range %q; want 416, bytes */%s", rng, resp.Status, resp.Header.Get("Content-Range"), size)
		}
	}
	resp, b := get("/image/52:54:00:00:00:01", "bytes=-0,2-5")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 2-5/"+size || !bytes.Equal(b, orig[2:6]) {
		t.Errorf("Range bytes=-0,2-5: %s, Content-Range %q, %d bytes", resp.Status, resp.Header.Get("Content-Range"), len(b))
	}
	resp, b = get("/image/52:54:00:00:00:01", "bytes=-3")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, orig[len(orig)-3:]) {
		t.Errorf("Range bytes=-3: %s, %d bytes", resp.Status, len(b))
	}
	// The same through curl, and on the inventory route.
	if c := curlCode(t, "-H", "Range: bytes=-0", e.base+"/image/52:54:00:00:00:01"); c != "416" {
		t.Errorf("curl Range bytes=-0: %s, want 416", c)
	}
}
