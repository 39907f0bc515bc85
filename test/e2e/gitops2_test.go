package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The second round of GitOps tests: auto_apply = false with plan and
// apply against the running server, rebinding the HTTP port, a remote
// source, image changes noticed without a commit, and push latency.

// client is an HTTP client whose connections are made inside the lab's
// namespace (no curl process per request: cheap enough to poll tightly).
func (l *gitopsLab) client() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
				return l.ns.Dial(network, addr)
			},
		},
	}
}

// getAt fetches path from the server's HTTP port port inside the
// namespace; "" on any error or a status other than 200.
func (l *gitopsLab) getAt(port int, path string) string {
	resp, err := l.client().Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

// closed reports whether nothing accepts connections on port in the
// namespace.
func (l *gitopsLab) closed(port int) bool {
	c, err := l.ns.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// cli runs the gitboot CLI inside the namespace (the server's loopback
// API takes requests from loopback only) and returns its output and exit
// code.
func (l *gitopsLab) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := l.ns.Command(context.Background(), l.bin, args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("gitboot %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", 0
}

// setServer adds attribute lines to the server block of cluster.hcl.
func setServer(t *testing.T, work, lines string) {
	t.Helper()
	editFile(t, filepath.Join(work, "cluster.hcl"), `address  = "10.99.0.1"`, "address  = \"10.99.0.1\"\n  "+lines)
}

// kernelArg sets n1's kernel arguments to console=ttyS0 plus arg: a change
// the script shows.
func kernelArg(t *testing.T, work, arg string) {
	t.Helper()
	nodes := filepath.Join(work, "nodes.hcl")
	data, err := os.ReadFile(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(string(data), "  kernel_args = "); i >= 0 {
		end := i + strings.IndexByte(string(data[i:]), '\n')
		data = append(data[:i:i], data[end+1:]...)
		if err := os.WriteFile(nodes, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	editFile(t, nodes, `tags     = { slot = "1" }`, fmt.Sprintf("tags     = { slot = \"1\" }\n  kernel_args = [\"console=ttyS0\", %q]", arg))
}

// imageDigest returns the digest of the image artifact n1's script names.
func imageDigest(script string) string {
	for _, m := range digestURL.FindAllStringSubmatch(script, -1) {
		if m[1] == "image" {
			return m[2]
		}
	}
	return ""
}

// TestGitOpsAutoApplyFalse: a commit that sets auto_apply = false is
// itself only planned (the desired state decides, and it says false): the
// served script stays, the log says planned and STATE/pending-plan.json
// holds the plan. plan --server --detailed-exitcode exits 2 for it;
// apply --server --auto-approve applies it; a plan saved before that apply
// is refused as stale; the next push is planned again and the kept
// pending plan applies as a saved plan.
func TestGitOpsAutoApplyFalse(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	const url = adminURL
	script0 := l.get("/ipxe/" + n1MAC)
	pending := filepath.Join(l.state, "pending-plan.json")
	vars := []string{"--var", "image_source=" + l.image}

	a := l.commit(t, "auto_apply off, n1 debug", func(w string) {
		setServer(t, w, "auto_apply = false")
		kernelArg(t, w, "gitboot.stepA")
	})
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the commit planned", func() bool {
		return strings.Contains(l.log.String(), "commit planned; auto_apply is false")
	})
	if got := l.get("/ipxe/" + n1MAC); got != script0 {
		t.Errorf("a planned commit changed the served script:\n%s", got)
	}
	if _, err := os.Stat(pending); err != nil {
		t.Errorf("no pending plan after a planned commit: %v", err)
	}
	if inv := l.get("/inventory"); strings.Contains(inv, a) {
		t.Errorf("the running inventory names the planned commit %s", a[:12])
	}

	// CI's view: there are changes; save the plan for later.
	saved := filepath.Join(t.TempDir(), "before.plan")
	out, code := l.cli(t, append([]string{"plan", "--server", url, "--repo", l.work, "--ref", "main", "--out", saved, "--detailed-exitcode"}, vars...)...)
	if code != 2 {
		t.Fatalf("plan --detailed-exitcode with a planned commit: exit %d, want 2\n%s", code, out)
	}
	if !strings.Contains(out, "n1") || !strings.Contains(out, "Plan:") {
		t.Errorf("the plan does not show n1's change:\n%s", out)
	}

	out, code = l.cli(t, append([]string{"apply", "--server", url, "--repo", l.work, "--ref", "main", "--auto-approve"}, vars...)...)
	if code != 0 || !strings.Contains(out, "Apply complete") {
		t.Fatalf("apply --server --auto-approve: exit %d\n%s\nlog:\n%s", code, out, l.log.String())
	}
	if got := l.get("/ipxe/" + n1MAC); !strings.Contains(got, "gitboot.stepA") {
		t.Errorf("after gitboot apply the script lacks the change:\n%s", got)
	}
	if inv := l.get("/inventory"); !strings.Contains(inv, a) {
		t.Errorf("after gitboot apply the running inventory does not name commit %s", a[:12])
	}
	if _, err := os.Stat(pending); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pending plan is still there after the apply: %v", err)
	}
	l.checkWhole(t)

	// The plan saved before that apply is stale now.
	out, code = l.cli(t, "apply", saved, "--server", url)
	if code != 1 || !strings.Contains(out, "stale") {
		t.Errorf("applying a plan saved before another apply: exit %d, want 1 and a message naming it stale\n%s", code, out)
	}
	out, code = l.cli(t, append([]string{"plan", "--server", url, "--repo", l.work, "--ref", "main", "--detailed-exitcode"}, vars...)...)
	if code != 0 {
		t.Errorf("plan --detailed-exitcode after the apply: exit %d, want 0 (no changes)\n%s", code, out)
	}

	checkPendingPlanApplies(t, l, pending)

	checkApplyMovingPort(t, l, vars)
}

// TestGitOpsRebind: a commit that moves http_port is served on the new
// port (the script's URLs name it) and the old port closes. A commit that
// moves it onto a port something else holds is not applied: the current
// port keeps serving the old snapshot, even to a download in flight, the
// error names the port, and once the port is free the retry applies it.
func TestGitOpsRebind(t *testing.T) {
	l := startGitOpsLab(t)
	// A large, incompressible image file, so that a download of the image
	// artifact by a reader that does not read stays in flight.
	big := make([]byte, 32<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(l.image, "etc", "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	l.serve(t)

	l.commit(t, "http on 9876", func(w string) { setServer(t, w, "http_port = 9876") })
	l.push(t, true, "main")
	l.waitFor(t, 60*time.Second, "the new port answering", func() bool { return l.getAt(9876, "/healthz") != "" })
	script := l.getAt(9876, "/ipxe/"+n1MAC)
	if !strings.Contains(script, "10.99.0.1:9876/") || strings.Contains(script, ":9873") {
		t.Errorf("the script's URLs do not name port 9876:\n%s", script)
	}
	l.waitFor(t, 10*time.Second, "the old port 9873 closed", func() bool { return l.closed(9873) })

	// Something else holds 9877.
	occupier, err := l.ns.Listen("tcp", ":9877")
	if err != nil {
		t.Fatal(err)
	}
	defer occupier.Close()
	// A node downloading the image artifact, reading nothing for now.
	dl := startImageDownload(t, l, script)
	defer dl.Close()

	errors0 := count(l.log.String(), "reconcile failed")
	l.commit(t, "http on 9877", func(w string) { editFile(t, filepath.Join(w, "cluster.hcl"), "http_port = 9876", "http_port = 9877") })
	l.push(t, true, "main")
	checkOldPortKept(t, l, script, errors0)
	// The download in flight gets its whole artifact.
	dl.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(dl), nil)
	if err != nil {
		t.Errorf("the download in flight on 9876 broke: %v", err)
	} else {
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || n != resp.ContentLength {
			t.Errorf("the download in flight on 9876 got %d of %d bytes: %v", n, resp.ContentLength, err)
		}
	}
	dl.Close()

	occupier.Close()
	took := l.waitFor(t, 30*time.Second, "the retry applying the move to 9877", func() bool {
		return strings.Contains(l.getAt(9877, "/ipxe/"+n1MAC), "10.99.0.1:9877/")
	})
	t.Logf("port freed -> served on it after %v", took.Round(time.Millisecond))
	l.waitFor(t, 10*time.Second, "the old port 9876 closed", func() bool { return l.closed(9876) })

	checkDHCPOff(t, l)
}

// checkPendingPlanApplies: with auto_apply false in the running state,
// the next push is planned again and not served; the kept pending plan
// applies as a saved plan.
func checkPendingPlanApplies(t *testing.T, l *gitopsLab, pending string) {
	const url = adminURL
	// The next push is planned again (auto_apply is false in the running
	// state now too); the kept pending plan applies as a saved plan.
	l.commit(t, "n1 step B", func(w string) { kernelArg(t, w, "gitboot.stepB") })
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the second commit planned", func() bool {
		return count(l.log.String(), "commit planned; auto_apply is false") == 2
	})
	if got := l.get("/ipxe/" + n1MAC); strings.Contains(got, "gitboot.stepB") {
		t.Errorf("a planned commit was served:\n%s", got)
	}
	out, code := l.cli(t, "apply", pending, "--server", url)
	if code != 0 {
		t.Fatalf("apply STATE/pending-plan.json --server: exit %d\n%s\nlog:\n%s", code, out, l.log.String())
	}
	if got := l.get("/ipxe/" + n1MAC); !strings.Contains(got, "gitboot.stepB") {
		t.Errorf("after applying the pending plan the script lacks the change:\n%s", got)
	}
}

// checkApplyMovingPort: a planned commit that moves the HTTP port, applied
// through that very port: the apply answers, and the new port serves.
func checkApplyMovingPort(t *testing.T, l *gitopsLab, vars []string) {
	const url = adminURL
	// A planned commit that moves the HTTP port, applied through that
	// very port: the apply answers, and the new port serves.
	l.commit(t, "http on 9876", func(w string) { setServer(t, w, "http_port = 9876") })
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the port move planned", func() bool {
		return count(l.log.String(), "commit planned; auto_apply is false") == 3
	})
	start := time.Now()
	out, code := l.cli(t, append([]string{"apply", "--server", url, "--repo", l.work, "--ref", "main", "--auto-approve"}, vars...)...)
	t.Logf("apply --server of a port move took %v", time.Since(start).Round(time.Millisecond))
	if code != 0 || !strings.Contains(out, "Apply complete") {
		t.Errorf("apply --server of a commit moving the HTTP port: exit %d\n%s\nlog:\n%s", code, out, l.log.String())
	}
	if got := l.getAt(9876, "/ipxe/"+n1MAC); !strings.Contains(got, "10.99.0.1:9876/") {
		t.Errorf("after the apply port 9876 does not serve the new script:\n%s", got)
	}
}

// startImageDownload starts, from the lab's namespace, a download of the
// image artifact script names on port 9876 that reads nothing yet.
func startImageDownload(t *testing.T, l *gitopsLab, script string) net.Conn {
	t.Helper()
	m := digestURL.FindAllStringSubmatch(script, -1)
	var imageURL string
	for _, u := range m {
		if u[1] == "image" {
			imageURL = u[0]
		}
	}
	dl, err := l.ns.Dial("tcp", "127.0.0.1:9876")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(dl, "GET %s HTTP/1.1\r\nHost: 10.99.0.1\r\n\r\n", imageURL)
	return dl
}

// checkOldPortKept: while the new port 9877 is taken, the current port
// 9876 serves the old script every time asked, the failure is logged
// (beyond the errors0 before) with the port, and no script naming 9877 is
// published.
func checkOldPortKept(t *testing.T, l *gitopsLab, script string, errors0 int) {
	// While 9877 is taken, 9876 serves the old snapshot, every time asked.
	deadline := time.Now().Add(4 * time.Second)
	var down []string
	for time.Now().Before(deadline) {
		if got := l.getAt(9876, "/ipxe/"+n1MAC); got != script {
			down = append(down, time.Now().Format("15:04:05.000"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(down) > 0 {
		t.Errorf("while the new port was taken, the current port 9876 did not serve the old script %d times (at %s)\nlog:\n%s",
			len(down), strings.Join(down, " "), l.log.String())
	}
	var failures []string
	for _, line := range strings.Split(l.log.String(), "\n") {
		if strings.Contains(line, "reconcile failed") {
			failures = append(failures, line)
		}
	}
	if len(failures) == errors0 || !strings.Contains(failures[len(failures)-1], ":9877") {
		t.Errorf("the failed rebind is not logged with the port:\n%s", l.log.String())
	} else {
		t.Logf("logged: %s", failures[len(failures)-1])
	}
	if strings.Contains(l.getAt(9876, "/ipxe/"+n1MAC), ":9877") {
		t.Errorf("a script naming the port nobody serves was published")
	}
}

// checkDHCPOff: a commit that turns DHCP off stops the service (UDP port
// 67 is free) and the server serves on.
func checkDHCPOff(t *testing.T, l *gitopsLab) {
	// A commit that turns DHCP off: the service stops, the server serves on.
	off := l.commit(t, "dhcp off", func(w string) { setServer(t, w, `dhcp_mode = "off"`) })
	l.push(t, true, "main")
	l.waitFor(t, 30*time.Second, "the dhcp_mode = off commit applied", func() bool {
		return strings.Contains(l.get("/inventory"), off)
	})
	c, err := l.ns.ListenPacket("udp4", ":67")
	if err != nil {
		t.Errorf("UDP port 67 is still bound after dhcp_mode = \"off\": %v", err)
	} else {
		c.Close()
	}
}

// TestGitOpsRemoteSource: serve --repo file://BARE clones it into
// STATE/source at first start, serves a push to it within a few polls, and
// reuses the clone after a restart.
func TestGitOpsRemoteSource(t *testing.T) {
	l := startGitOpsLab(t)
	l.args = []string{"--repo", "file://" + l.bare, "--poll", "1s"}
	l.serve(t)
	source := filepath.Join(l.state, "source")
	fi, err := os.Stat(filepath.Join(source, "HEAD"))
	if err != nil {
		t.Fatalf("no clone in STATE/source: %v", err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	dirIno := inode(t, source)

	l.commit(t, "remote debug", func(w string) { kernelArg(t, w, "gitboot.remote1") })
	l.push(t, true, "main")
	took := l.waitFor(t, 30*time.Second, "the push served through the clone", func() bool {
		return strings.Contains(l.get("/ipxe/"+n1MAC), "gitboot.remote1")
	})
	t.Logf("push -> served with --poll 1s on a remote: %v", took.Round(time.Millisecond))
	l.checkWhole(t)

	l.stop(t, syscall.SIGTERM)
	l.commit(t, "remote debug 2", func(w string) { kernelArg(t, w, "gitboot.remote2") })
	l.push(t, true, "main")
	l.serve(t)
	l.waitFor(t, 30*time.Second, "the push made while stopped served after the restart", func() bool {
		return strings.Contains(l.get("/ipxe/"+n1MAC), "gitboot.remote2")
	})
	fi, err = os.Stat(filepath.Join(source, "HEAD"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Ino != ino || inode(t, source) != dirIno {
		t.Errorf("the restart did not reuse the clone in STATE/source (err %v)", err)
	}
	if strings.Contains(l.log.String(), "fetch failed") {
		t.Errorf("a fetch failed:\n%s", l.log.String())
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestGitOpsImageChange: an image source changing on the server, with no
// commit, is noticed by the poll (the script names the new image
// digest); with polling off, SIGHUP does it.
func TestGitOpsImageChange(t *testing.T) {
	l := startGitOpsLab(t, "--poll", "1s")
	l.serve(t)
	d0 := imageDigest(l.checkWhole(t))
	if err := os.WriteFile(filepath.Join(l.image, "etc", "os-release"), []byte("NAME=e2e\nVERSION=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	took := l.waitFor(t, 30*time.Second, "the new image served by the poll", func() bool {
		d := imageDigest(l.get("/ipxe/" + n1MAC))
		return d != "" && d != d0
	})
	t.Logf("image change -> new digest served with --poll 1s: %v", took.Round(time.Millisecond))
	d1 := imageDigest(l.checkWhole(t))

	l.stop(t, syscall.SIGTERM)
	l.args = nil // --poll 0
	l.serve(t)
	if d := imageDigest(l.get("/ipxe/" + n1MAC)); d != d1 {
		t.Fatalf("after the restart the image digest is %s, want %s", d, d1)
	}
	if err := os.WriteFile(filepath.Join(l.image, "etc", "os-release"), []byte("NAME=e2e\nVERSION=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if d := imageDigest(l.get("/ipxe/" + n1MAC)); d != d1 {
		t.Errorf("with polling off an image change was applied without a trigger")
	}
	l.proc.Process.Signal(syscall.SIGHUP)
	l.waitFor(t, 30*time.Second, "the new image served after SIGHUP", func() bool {
		d := imageDigest(l.get("/ipxe/" + n1MAC))
		return d != "" && d != d1
	})
	l.checkWhole(t)
}

// TestGitOpsPushLatency logs the median time from git push returning to
// the new script being served, over 10 pushes, polling off (the watch on
// the refs notices them). Not a benchmark: nothing is asserted on it.
func TestGitOpsPushLatency(t *testing.T) {
	l := startGitOpsLab(t)
	l.serve(t)
	var took []time.Duration
	for i := range 10 {
		arg := fmt.Sprintf("gitboot.push%d", i)
		l.commit(t, arg, func(w string) { kernelArg(t, w, arg) })
		l.push(t, true, "main")
		start := time.Now()
		for !strings.Contains(l.getAt(9873, "/ipxe/"+n1MAC), arg) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("push %d not served within 30 s\nlog:\n%s", i, l.log.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("push -> new script served, 10 pushes: median %v, min %v, max %v",
		((took[4] + took[5]) / 2).Round(time.Millisecond), took[0].Round(time.Millisecond), took[9].Round(time.Millisecond))
}
