package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxReason bounds the reason --report-init-failed sends (the server keeps
// at most 1 KiB of it too).
const maxReason = 1024

// reportAttempts and reportRetry: a node that cannot exec its init reboots
// after 60 s; a few tries over some seconds ride out a server restart
// without eating that minute.
const (
	reportAttempts = 3
	reportTimeout  = 10 * time.Second
)

var reportRetry = 3 * time.Second // a variable for tests

// reportInitFailed is --report-init-failed REASON, which gitboot's /init runs
// when it found no init to exec or the exec failed: it POSTs the reason
// (plain text, at most maxReason bytes) to {server}/init-failed/{mac}, where
// the server records stage INIT_FAILED for the node. It returns 0 once the
// server recorded it, 1 when it did not.
func reportInitFailed(ctx context.Context, cfg *config, reason string, stderr io.Writer) int {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	url := cfg.agentURL + "/init-failed/" + cfg.mac
	tr, err := loadTrust(cfg, true)
	if err != nil {
		fmt.Fprintf(stderr, "gitboot-agent: reporting INIT_FAILED: %v\n", err)
		return 1
	}
	client := newClient(false, tr.roots)
	client.Timeout = reportTimeout
	for i := range reportAttempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				fmt.Fprintf(stderr, "gitboot-agent: reporting INIT_FAILED to %s: %v\n", url, ctx.Err())
				return 1
			case <-time.After(reportRetry):
			}
		}
		if err = postReason(ctx, client, url, reason); err == nil {
			fmt.Fprintf(stderr, "gitboot-agent: reported INIT_FAILED to %s\n", url)
			return 0
		}
	}
	fmt.Fprintf(stderr, "gitboot-agent: reporting INIT_FAILED to %s (%d tries): %v\n", url, reportAttempts, err)
	return 1
}

// postReason sends one report; any answer but 200 is an error.
func postReason(ctx context.Context, client *http.Client, url, reason string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(reason))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(body))}
	}
	return nil
}
