package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Stage one's download: one artifact streamed from the server into the
// new root, resuming a dropped connection with a Range request from where
// it stopped, and refused unless its sha256 is the one the iPXE script
// named.

// Stage-one download settings.
const (
	stallTimeout   = 30 * time.Second // no byte for this long: the connection is dropped and resumed
	maxResumes     = 20               // resumptions of one download
	connectTimeout = 5 * time.Minute  // how long the first request of a download is retried
)

// errDigest is a download whose sha256 is not the expected one.
var errDigest = errors.New("sha256 mismatch")

// resumeReader reads an HTTP resource, reconnecting with Range: bytes=N-
// (and If-Range on its ETag) when the connection drops or stalls.
type resumeReader struct {
	ctx     context.Context
	client  *http.Client
	url     string
	log     *slog.Logger
	off     int64 // bytes delivered so far
	size    int64 // -1 until known
	etag    string
	body    io.ReadCloser
	cancel  context.CancelFunc
	timer   *time.Timer
	resumes int
	eof     bool
	// Resumed counts resumptions (for the log and tests).
	Resumed int
}

func newResumeReader(ctx context.Context, c *http.Client, url string, log *slog.Logger) *resumeReader {
	return &resumeReader{ctx: ctx, client: c, url: url, log: log, size: -1}
}

// open starts a request at r.off.
func (r *resumeReader) open() error {
	ctx, cancel := context.WithCancel(r.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		cancel()
		return err
	}
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
		if r.etag != "" {
			req.Header.Set("If-Range", r.etag)
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		cancel()
		return err
	}
	switch {
	case r.off > 0 && resp.StatusCode == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != r.off || (r.size >= 0 && total != r.size) {
			resp.Body.Close()
			cancel()
			return fmt.Errorf("%s: bad Content-Range %q for a resume at %d", r.url, resp.Header.Get("Content-Range"), r.off)
		}
	case resp.StatusCode == http.StatusOK:
		if r.off > 0 {
			// The server ignored the range (or the file changed: then the
			// digest check fails): skip what was delivered already.
			if _, err := io.CopyN(io.Discard, resp.Body, r.off); err != nil {
				resp.Body.Close()
				cancel()
				return fmt.Errorf("%s: skipping to %d: %w", r.url, r.off, err)
			}
		}
		r.size = resp.ContentLength
		r.etag = resp.Header.Get("Etag")
	default:
		resp.Body.Close()
		cancel()
		return &httpStatusError{url: r.url, code: resp.StatusCode}
	}
	r.body, r.cancel = resp.Body, cancel
	r.timer = time.AfterFunc(stallTimeout, cancel)
	return nil
}

type httpStatusError struct {
	url  string
	code int
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.url, e.code, http.StatusText(e.code))
}

func (r *resumeReader) drop() {
	if r.body != nil {
		r.timer.Stop()
		r.body.Close()
		r.cancel()
		r.body = nil
	}
}

func (r *resumeReader) Read(p []byte) (int, error) {
	if r.eof {
		return 0, io.EOF
	}
	first := time.Now()
	for {
		if r.body == nil {
			err := r.open()
			if err != nil {
				var se *httpStatusError
				giveUp := errors.As(err, &se) && se.code != http.StatusServiceUnavailable && se.code < 500
				if r.off > 0 {
					r.resumes++
					giveUp = giveUp || r.resumes > maxResumes
				} else {
					giveUp = giveUp || time.Since(first) > connectTimeout
				}
				if giveUp || r.ctx.Err() != nil {
					return 0, err
				}
				r.log.Warn("stage one: request failed; retrying", "url", r.url, "at", r.off, "err", err)
				select {
				case <-time.After(2 * time.Second):
				case <-r.ctx.Done():
					return 0, r.ctx.Err()
				}
				continue
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.timer.Reset(stallTimeout)
		}
		switch {
		case err == io.EOF && (r.size < 0 || r.off >= r.size):
			r.drop()
			r.eof = true
			return n, io.EOF
		case err != nil:
			// Dropped or stalled: resume from r.off.
			r.drop()
			r.Resumed++
			r.resumes++
			if r.resumes > maxResumes {
				return n, fmt.Errorf("%s: connection lost %d times (last at byte %d: %v)", r.url, r.resumes, r.off, err)
			}
			r.log.Warn("stage one: connection lost; resuming", "url", r.url, "at", r.off, "size", r.size, "err", err)
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, nil
	}
}

func (r *resumeReader) Close() error { r.drop(); return nil }

// parseContentRange reads "bytes START-END/TOTAL".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	a, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	return start, total, err1 == nil && err2 == nil
}

// decompress returns the cpio stream of an initrd: gzip (members in a
// row), zstd (frames in a row), or none, told by its first bytes.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil && len(magic) < 2 {
		return nil, nil, fmt.Errorf("reading the artifact: %w", noEOF(err))
	}
	switch {
	case magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case len(magic) == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// fetchInto streams the artifact at url into root's directory, hashing the
// bytes as they arrive; it returns errDigest (wrapped) when their sha256 is
// not want, after everything was unpacked: the caller must then discard
// the whole tree. inner, when not "", names a file inside the archive
// whose content (not the archive's) must hash to want (the runtime
// overlay, served wrapped as a cpio of one file).
func fetchInto(ctx context.Context, c *http.Client, url, want, inner string, x *extractor, log *slog.Logger) (int64, error) {
	rr := newResumeReader(ctx, c, url, log)
	defer rr.Close()
	sum := sha256.New()
	var innerSum hash.Hash
	if inner != "" {
		innerSum = sha256.New()
		prev := x.onFile
		x.onFile = func(name string) io.Writer {
			if name == inner {
				return innerSum
			}
			return nil
		}
		defer func() { x.onFile = prev }()
	}
	cr, done, err := decompress(io.TeeReader(rr, sum))
	if err != nil {
		return rr.off, fmt.Errorf("%s: %w", url, err)
	}
	defer done()
	if err := x.extract(cr); err != nil {
		return rr.off, fmt.Errorf("%s: %w", url, err)
	}
	// Whatever follows the compressed stream is hashed too.
	if _, err := io.Copy(io.Discard, io.TeeReader(rr, sum)); err != nil {
		return rr.off, fmt.Errorf("%s: %w", url, err)
	}
	got := sum
	if innerSum != nil {
		got = innerSum
	}
	if h := hex.EncodeToString(got.Sum(nil)); h != want {
		return rr.off, fmt.Errorf("%s: %w: got %s, want %s", url, errDigest, h, want)
	}
	if rr.Resumed > 0 {
		log.Info("stage one: download resumed", "url", url, "times", rr.Resumed)
	}
	return rr.off, nil
}

// openDir opens dir as the root stage one unpacks into.
func openDir(dir string) (*os.Root, error) { return os.OpenRoot(dir) }
