package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The stages a simulated node goes through, in order, and the agent's
// periodic fetch after boot.
const (
	stDHCP = iota
	stTFTP
	stIPXEDHCP
	stScript
	stKernel
	stImage
	stSystem
	stRuntime
	stAgent
	nStages
)

var stageNames = [nStages]string{"dhcp", "tftp", "ipxe_dhcp", "script", "kernel", "image", "system", "runtime", "agent"}

// retryDelay is how long the simulated iPXE waits before fetching a file
// again (gitboot's script: httpboot.RetryDelay), and how long a node takes
// to "reboot" after a stage failed for good.
const retryDelay = 10 * time.Second

// recorder collects every node's per-stage latencies, retries and errors.
type recorder struct {
	mu       sync.Mutex
	lat      [nStages][]time.Duration
	retries  [nStages]int
	errors   map[string]int // "stage: error" -> count (also retried ones)
	reboots  int
	bytes    int64
	agentErr int
}

func newRecorder() *recorder { return &recorder{errors: map[string]int{}} }

func (r *recorder) ok(st int, d time.Duration, retries int, n int64) {
	r.mu.Lock()
	r.lat[st] = append(r.lat[st], d)
	r.retries[st] += retries
	r.bytes += n
	r.mu.Unlock()
}

// Node-specific parts of error messages, replaced so that errors group.
var (
	reMAC    = regexp.MustCompile(`([0-9a-f]{2}:){5}[0-9a-f]{2}`)
	reAddr   = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+(:\d+)?`)
	reDigest = regexp.MustCompile(`/[0-9a-f]{64}`)
)

func (r *recorder) fail(st int, err error) {
	msg := reDigest.ReplaceAllString(err.Error(), "/DIGEST")
	msg = reMAC.ReplaceAllString(msg, "MAC")
	msg = reAddr.ReplaceAllString(msg, "ADDR")
	if len(msg) > 160 {
		msg = msg[:160]
	}
	r.mu.Lock()
	r.errors[stageNames[st]+": "+msg]++
	if st == stAgent {
		r.agentErr++
	}
	r.mu.Unlock()
}

// node is one simulated machine.
type node struct {
	i    int
	mac  net.HardwareAddr
	ip   net.IP // the address the repository declares for it
	http *http.Client
}

// sim runs the nodes against one target.
type sim struct {
	mux     *dhcpMux
	rec     *recorder
	reboots int // how often a node power-cycles after a stage failed for good
}

// boot runs the whole boot sequence of n, power-cycling after a stage
// that failed despite its retries, at most s.reboots times.
func (s *sim) boot(ctx context.Context, n *node) error {
	var err error
	for attempt := 0; attempt <= s.reboots; attempt++ {
		if attempt > 0 {
			s.rec.mu.Lock()
			s.rec.reboots++
			s.rec.mu.Unlock()
			if !sleep(ctx, retryDelay) {
				return ctx.Err()
			}
		}
		if err = s.bootOnce(ctx, n); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// bootOnce is one power-on: firmware DHCP, TFTP of iPXE, iPXE's DHCP, the
// script and every file it names.
func (s *sim) bootOnce(ctx context.Context, n *node) error {
	t := time.Now()
	l, tries, err := s.mux.dora(ctx, n.mac, false)
	if err == nil && !l.ip.Equal(n.ip) {
		err = fmt.Errorf("DHCP gave %s, the repository declares %s", l.ip, n.ip)
	}
	if err != nil {
		s.rec.fail(stDHCP, err)
		return err
	}
	s.rec.ok(stDHCP, time.Since(t), tries-1, 0)

	t = time.Now()
	var size int64
	for try := 0; ; try++ {
		size, err = tftpGet(n.ip, l.server, l.bootFile)
		if err == nil {
			s.rec.ok(stTFTP, time.Since(t), try, size)
			break
		}
		s.rec.fail(stTFTP, err)
		if try == 2 || !sleep(ctx, time.Second) {
			return err
		}
	}

	t = time.Now()
	l, tries, err = s.mux.dora(ctx, n.mac, true)
	if err == nil && !strings.HasPrefix(l.bootFile, "http://") {
		err = fmt.Errorf("iPXE's DHCP got boot file %q, not an http:// script", l.bootFile)
	}
	if err != nil {
		s.rec.fail(stIPXEDHCP, err)
		return err
	}
	s.rec.ok(stIPXEDHCP, time.Since(t), tries-1, 0)

	// iPXE expands settings in the boot file name (the reference setup's
	// dnsmasq answers .../ipxe/${net0/mac}).
	scriptURL := strings.ReplaceAll(l.bootFile, "${net0/mac}", n.mac.String())
	script, err := s.get(ctx, n, stScript, scriptURL)
	if err != nil {
		return err
	}
	urls, err := scriptURLs(script)
	if err != nil {
		s.rec.fail(stScript, err)
		return err
	}
	for _, u := range urls {
		st := stageOfURL(u)
		if st < 0 {
			continue
		}
		if _, err := s.get(ctx, n, st, u); err != nil {
			return err
		}
	}
	n.http.CloseIdleConnections()
	return nil
}

// get fetches url as iPXE does: on failure it waits retryDelay and tries
// again, 5 tries in all. It returns the body of a script (stScript), else
// only counts the bytes.
func (s *sim) get(ctx context.Context, n *node, st int, url string) ([]byte, error) {
	t := time.Now()
	var err error
	for try := 0; try < 5; try++ {
		if try > 0 && !sleep(ctx, retryDelay) {
			return nil, ctx.Err()
		}
		var body []byte
		var size int64
		body, size, _, err = fetch(ctx, n.http, url, "", st == stScript)
		if err == nil {
			s.rec.ok(st, time.Since(t), try, size)
			return body, nil
		}
		s.rec.fail(st, err)
	}
	return nil, err
}

// fetch GETs url (with If-None-Match etag when set) and reads the whole
// body, checking its length; keep returns the body too.
func fetch(ctx context.Context, c *http.Client, url, etag string, keep bool) (body []byte, size int64, newTag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, "", err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return nil, 0, etag, nil
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, 0, "", fmt.Errorf("GET %s: %s", shortURL(url), resp.Status)
	}
	var w io.Writer = io.Discard
	var buf bytes.Buffer
	if keep {
		w = &buf
	}
	size, err = io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && size != resp.ContentLength {
		err = fmt.Errorf("GET %s: %d of %d bytes", shortURL(url), size, resp.ContentLength)
	}
	if err != nil {
		return nil, size, "", fmt.Errorf("GET %s: %w", shortURL(url), err)
	}
	return buf.Bytes(), size, resp.Header.Get("Etag"), nil
}

// shortURL drops the digest part of an artifact URL, so errors group.
func shortURL(u string) string {
	if i := strings.LastIndexByte(u, '/'); i > 0 && len(u)-i == 65 {
		return u[:i] + "/…"
	}
	return u
}

// scriptURLs returns the URLs of the kernel and initrd lines of an iPXE
// script, in order.
func scriptURLs(script []byte) ([]string, error) {
	var urls []string
	sc := bufio.NewScanner(bytes.NewReader(script))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || (f[0] != "kernel" && f[0] != "initrd") {
			continue
		}
		for _, w := range f[1:] {
			if strings.HasPrefix(w, "http://") {
				urls = append(urls, w)
				break
			}
		}
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("the iPXE script names no kernel or initrd URL:\n%s", benchTail(script, 400))
	}
	return urls, nil
}

func benchTail(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// stageOfURL maps an artifact URL to its stage (-1: not one).
func stageOfURL(u string) int {
	rest := strings.TrimPrefix(u, "http://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[i:]
	}
	switch {
	case strings.HasPrefix(rest, "/kernel/"):
		return stKernel
	case strings.HasPrefix(rest, "/image/"), strings.HasPrefix(rest, "/extra/"):
		return stImage
	case strings.HasPrefix(rest, "/system/"):
		return stSystem
	case strings.HasPrefix(rest, "/runtime/"), strings.HasPrefix(rest, "/runtime-initrd/"):
		return stRuntime
	}
	return -1
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
