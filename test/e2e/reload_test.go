package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// report reads GET /status as JSON.
func (l *gitopsLab) report(t *testing.T) status.Report {
	t.Helper()
	var rep status.Report
	body := l.get("/status")
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("GET /status is not JSON: %v\n%s", err, body)
	}
	return rep
}

// metric returns the value of one sample line of GET /metrics ("" when absent).
func (l *gitopsLab) metric(sample string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	if m := re.FindStringSubmatch(l.get("/metrics")); m != nil {
		return m[1]
	}
	return ""
}

// TestReloadRejectedVisible: a rejected commit is named, with its
// diagnostic (file and line), by GET /status, gitboot status, gitboot
// status --json and gitboot status --repo (from the notes), and counted by
// /metrics; the applied commit stays served;
// a good commit after it clears it.
func TestReloadRejectedVisible(t *testing.T) {
	l := startGitOpsLab(t, "--notes-interval", "300ms")
	l.serve(t)
	applied := l.report(t).Commit
	if l.report(t).LastRejected != nil {
		t.Fatalf("a fresh server shows a rejected commit: %+v", l.report(t).LastRejected)
	}
	bad := l.commit(t, "broken profile reference", func(w string) {
		editFile(t, filepath.Join(w, "nodes.hcl"), "profile.compute", "profile.computer")
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the rejection shown by GET /status", func() bool { return l.report(t).LastRejected != nil })
	rep := l.report(t)
	r := rep.LastRejected
	if r.Commit != bad || r.Subject != "broken profile reference" || rep.Commit != applied {
		t.Errorf("GET /status: rejected %s (%q), served %s; want rejected %s, served %s", r.Commit, r.Subject, rep.Commit, bad, applied)
	}
	if len(r.Diagnostics) == 0 || r.Diagnostics[0].File != "nodes.hcl" || r.Diagnostics[0].Line == 0 ||
		!strings.Contains(r.Reason, "nodes.hcl:") {
		t.Errorf("the rejection does not say where: %+v", r)
	}
	if v := l.metric(`gitboot_reload_failures_total{reason="invalid"}`); v != "1" {
		t.Errorf(`gitboot_reload_failures_total{reason="invalid"} = %q, want 1`, v)
	}
	if v := l.metric(`gitboot_last_rejected_timestamp_seconds`); v == "" || v == "0" {
		t.Errorf("gitboot_last_rejected_timestamp_seconds = %q", v)
	}
	out, err := l.ns.Output(context.Background(), l.bin, "status", "--server", adminURL)
	if err != nil || !strings.Contains(string(out), "commit "+bad[:7]) || !strings.Contains(string(out), "rejected") ||
		!strings.Contains(string(out), "nodes.hcl:") {
		t.Errorf("gitboot status does not name the rejected commit: %v\n%s", err, out)
	}
	out, err = l.ns.Output(context.Background(), l.bin, "status", "--server", adminURL, "--json")
	if err != nil || !strings.Contains(string(out), `"last_rejected"`) || !strings.Contains(string(out), bad) {
		t.Errorf("gitboot status --json does not name the rejected commit: %v\n%s", err, out)
	}
	l.checkWhole(t)
	// gitboot status --repo reads the same from the git notes alone.
	l.waitFor(t, 30*time.Second, "gitboot status --repo naming the rejected commit", func() bool {
		out, err := exec.Command(l.bin, "status", "--repo", l.bare).CombinedOutput()
		return err == nil && strings.Contains(string(out), "commit "+bad[:7]) && strings.Contains(string(out), "nodes.hcl:")
	})

	// A good commit is applied: nothing rejected to show any more.
	l.commit(t, "fixed", func(w string) {
		editFile(t, filepath.Join(w, "nodes.hcl"), "profile.computer", "profile.compute")
		editFile(t, filepath.Join(w, "nodes.hcl"), `tags     = { slot = "1" }`, "tags     = { slot = \"1\" }\n  kernel_args = [\"console=ttyS0\", \"gitboot.fixed\"]")
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the good commit served", func() bool { return strings.Contains(l.get("/ipxe/"+n1MAC), "gitboot.fixed") })
	if r := l.report(t).LastRejected; r != nil {
		t.Errorf("GET /status still shows a rejection after a good commit: %+v", r)
	}
}

// bigImageFile writes size bytes of incompressible data into the lab's
// image, so that the next build of the image takes seconds.
func bigImageFile(t *testing.T, image string, size int) {
	t.Helper()
	buf := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(buf)
	if err := os.WriteFile(filepath.Join(image, "etc", "big"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadTimeout: with a short --reload-timeout, a commit whose build
// takes longer (a big image) is rejected as too expensive: GET /status,
// /metrics and the git note say so, and the last good state stays served.
func TestReloadTimeout(t *testing.T) {
	l := startGitOpsLab(t, "--notes-interval", "300ms")
	l.serve(t)
	before := l.checkWhole(t)
	l.stop(t, syscall.SIGTERM)
	// The slow commit arrives while the server is down, so that the first
	// evaluation under the short deadline is that commit's: building a
	// 150 MB incompressible image takes ~0.5 s on an idle machine, ten
	// times the deadline.
	bigImageFile(t, l.image, 150<<20)
	slow := l.commit(t, "a big image", func(w string) {
		editFile(t, filepath.Join(w, "nodes.hcl"), `tags     = { slot = "1" }`, "tags     = { slot = \"1\" }\n  kernel_args = [\"console=ttyS0\", \"gitboot.slow\"]")
	})
	l.push(t, true, "main")
	l.args = append(l.args, "--reload-timeout", "50ms")
	l.serve(t)
	l.waitFor(t, 60*time.Second, "the slow commit rejected", func() bool {
		r := l.report(t).LastRejected
		return r != nil && r.Commit == slow
	})
	r := l.report(t).LastRejected
	if !strings.Contains(r.Reason, "too expensive") || !strings.Contains(r.Reason, "reload timeout (50ms)") {
		t.Errorf("the rejection does not say it was too expensive: %q", r.Reason)
	}
	if v := l.metric(`gitboot_reload_failures_total{reason="too_expensive"}`); v != "1" {
		t.Errorf(`gitboot_reload_failures_total{reason="too_expensive"} = %q, want 1`, v)
	}
	if after := l.checkWhole(t); after != before {
		t.Errorf("the script changed although the commit was rejected:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	l.waitFor(t, 30*time.Second, "the rejected note", func() bool {
		out, _ := exec.Command("git", "-C", l.bare, "notes", "--ref=gitboot", "show", slow).CombinedOutput()
		return strings.Contains(string(out), "result=rejected") && strings.Contains(string(out), "too expensive")
	})
}

// slowLocal is HCL whose evaluation takes seconds (~3 s on an idle 2-core
// machine, more under load; ~270 MB) however locals are ordered: one
// expression over 640,000 pairs.
const slowLocal = `locals {
  slow = length([for p in setproduct(range(800), range(800)) : p[0] + p[1] if p[0] > p[1]])
}
`

// TestReloadSIGTERM: SIGTERM while a pushed commit is being evaluated
// stops gitboot serve at once: it does not wait for the evaluation to end
// (the commit is valid and changes nothing served, so a finished
// evaluation would log that it changes nothing).
func TestReloadSIGTERM(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	l.commit(t, "a slow local", func(w string) {
		if err := os.WriteFile(filepath.Join(w, "slow.hcl"), []byte(slowLocal), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	l.push(t, true, "main")
	time.Sleep(300 * time.Millisecond) // the push is seen at once (inotify)
	start := time.Now()
	l.stop(t, syscall.SIGTERM)
	t.Logf("SIGTERM during an evaluation: stopped in %v", time.Since(start))
	log := l.log.String()
	if strings.Contains(log, `subject="a slow local"`) {
		t.Errorf("serve finished evaluating the commit before it stopped\n%s", log)
	}
	if !strings.Contains(log, "msg=stopped") {
		t.Errorf("serve did not stop cleanly\n%s", log)
	}
}
