package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// fetchTimeout bounds one fetch of the runtime overlay.
const fetchTimeout = 2 * time.Minute

// maxCompressed bounds the bytes read of one response.
const maxCompressed = 256 << 20

// errNotModified is a 304: the overlay applied last is still current.
var errNotModified = errors.New("not modified")

// statusError is an HTTP answer other than 200 and 304.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	hint := ""
	switch e.code {
	case http.StatusForbidden:
		hint = " (secure_runtime: the overlay goes only to the node's own address from a port < 1024: run as root with --secure)"
	case http.StatusNotFound:
		hint = " (the server does not know this MAC, or has no runtime overlay for it)"
	}
	return fmt.Sprintf("server answered %d%s: %s", e.code, hint, e.body)
}

// newClient returns the HTTPS client the agent fetches with: it trusts
// only roots (the server's CA, pinned: no system roots) and talks only
// https. One request per interval, so no idle connections are kept. In
// secure mode every connection comes from a privileged source port.
func newClient(secure bool, roots *x509.CertPool) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // the server is on the node's own network
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true, // the overlay is gzip already: keep its bytes
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr.DialContext = d.DialContext
	if secure {
		tr.DialContext = dialPrivileged
	}
	return &http.Client{Transport: httpsOnly{tr}, Timeout: fetchTimeout, CheckRedirect: noRedirect}
}

// httpsOnly refuses any request that is not https, so neither a redirect
// nor a mistake sends the agent's requests in the clear.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing %s: the agent talks HTTPS only", r.URL.Redacted())
	}
	return h.rt.RoundTrip(r)
}

// noRedirect: the server never redirects the agent; one that does is not it.
func noRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("refusing a redirect to %s", req.URL.Redacted())
}

// Privileged source ports are tried from this range (as bindresvport
// does), starting at a random one.
const (
	lowPort  = 512
	highPort = 1023
)

// dialPrivileged connects from a source port below 1024 (only root may
// bind one, so the server knows root on the node asked), trying other
// ports while one is taken.
func dialPrivileged(ctx context.Context, network, addr string) (net.Conn, error) {
	n := highPort - lowPort + 1
	start := rand.IntN(n)
	var last error
	for i := range 64 {
		port := lowPort + (start+i)%n
		d := &net.Dialer{
			Timeout:   10 * time.Second,
			LocalAddr: &net.TCPAddr{Port: port},
			Control: func(_, _ string, c syscall.RawConn) error {
				var serr error
				if err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
				}); err != nil {
					return err
				}
				return serr
			},
		}
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			return conn, nil
		}
		last = err
		switch {
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("secure mode binds a source port < 1024 and needs root: %w", err)
		case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EADDRNOTAVAIL):
			continue // taken (or its 4-tuple in TIME_WAIT): next port
		}
		return nil, err
	}
	return nil, fmt.Errorf("no free source port in %d-%d: %w", lowPort, highPort, last)
}

// fetch gets the runtime overlay at url. With etag set it asks
// If-None-Match: an unchanged overlay is errNotModified. It returns the
// compressed bytes, the new ETag and the signature header.
func fetch(ctx context.Context, c *http.Client, url, etag, assetKey string) (data []byte, newETag, sig string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", "", err
	}
	req.Header.Set("User-Agent", "gitboot-agent")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if assetKey != "" {
		req.Header.Set(assetKeyHeader, assetKey)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, etag, "", errNotModified
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, "", "", &statusError{resp.StatusCode, strings.TrimSpace(string(b))}
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxCompressed+1))
	if err != nil {
		return nil, "", "", fmt.Errorf("reading the answer: %w", err)
	}
	if len(data) > maxCompressed {
		return nil, "", "", fmt.Errorf("the overlay is over %d MiB", maxCompressed>>20)
	}
	if resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength {
		return nil, "", "", fmt.Errorf("reading the answer: got %d of %d bytes", len(data), resp.ContentLength)
	}
	return data, resp.Header.Get("ETag"), resp.Header.Get(overlaysig.Header), nil
}

// assetKeyHeader carries the node's asset key to a server in secure mode
// (bootsvc/httpboot.AssetKeyHeader; the agent imports no server package).
const assetKeyHeader = "X-Gitboot-Asset-Key"

// dmiAssetTag is where Linux shows the chassis asset tag.
const dmiAssetTag = "/sys/class/dmi/id/chassis_asset_tag"

// readAssetKey reads the node's asset key from path: "" when there is
// none (no file, empty, or a vendor placeholder such as "Default string").
func readAssetKey(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	key := strings.TrimSpace(string(data))
	switch strings.ToLower(key) {
	case "", "default string", "no asset tag", "not specified", "to be filled by o.e.m.", "none":
		return ""
	}
	return key
}
