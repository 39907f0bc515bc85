package tftp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc/status"
)

// needTool skips the test when a client is missing (never under CI).
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed under CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
}

// run runs a client with a deadline and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out; output:\n%s", name, args, out)
	}
	// tftp-hpa exits 0 even on a TFTP error; callers check files and output.
	_ = err
	return string(out)
}

// hpaGet fetches file with tftp-hpa into out.
func hpaGet(t *testing.T, port uint16, file, out string) string {
	return run(t, filepath.Dir(out), "tftp", "-m", "binary", "127.0.0.1", strconv.Itoa(int(port)), "-c", "get", file, out)
}

// atftpGet fetches file with atftp and blksize 1468 into out.
func atftpGet(t *testing.T, port uint16, file, out string) string {
	return run(t, filepath.Dir(out), "atftp", "--option", "blksize 1468", "-g", "-r", file, "-l", out, "127.0.0.1", strconv.Itoa(int(port)))
}

func sameFile(t *testing.T, got string, want []byte, client string) {
	t.Helper()
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatalf("%s: %v", client, err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("%s: %s is %d bytes, differs from the %d bytes served", client, got, len(b), len(want))
	}
}

// The Debian iPXE binaries, from the real default root, with both clients;
// ipxe.efi is a symlink into /boot there.
func TestClientsFetchSystemIPXE(t *testing.T) {
	needTool(t, "tftp")
	needTool(t, "atftp")
	root := needIPXE(t)
	ts := startServer(t, root, Config{})
	out := t.TempDir()
	for _, file := range []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} {
		want, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		hpa := filepath.Join(out, "hpa-"+file)
		if o := hpaGet(t, ts.port, file, hpa); strings.Contains(o, "Error") {
			t.Fatalf("tftp get %s: %s", file, o)
		}
		sameFile(t, hpa, want, "tftp-hpa")
		at := filepath.Join(out, "atftp-"+file)
		if o := atftpGet(t, ts.port, file, at); strings.Contains(o, "rror") {
			t.Fatalf("atftp get %s: %s", file, o)
		}
		sameFile(t, at, want, "atftp")
	}
	ts.rec.wait(t, 6)
	ev, ok := ts.rec.find(status.StageTFTP, "undionly.kpxe")
	if !ok {
		t.Fatalf("no TFTP event for undionly.kpxe; events: %+v", ts.rec.all())
	}
	if ev.Node != testNode || ev.MAC != "52:54:00:00:00:01" || ev.Addr.String() != "127.0.0.1" {
		t.Fatalf("event = %+v, want node %s at 127.0.0.1", ev, testNode)
	}
	if got := len(ts.rec.all()); got != 6 {
		t.Fatalf("%d events for 6 transfers: %+v", got, ts.rec.all())
	}
}

// The boot binaries of our own root: a large one, a block-size multiple in
// a subdirectory, a short text, and ipxe.efi symlinked out of the root.
func TestClientsFetchOwnRoot(t *testing.T) {
	needTool(t, "tftp")
	needTool(t, "atftp")
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	out := t.TempDir()
	for name, want := range r.files {
		if strings.Contains(name, " ") {
			continue // the clients' command lines split it
		}
		local := filepath.Join(out, strings.ReplaceAll(name, "/", "_"))
		if o := hpaGet(t, ts.port, name, local+".hpa"); strings.Contains(o, "Error") {
			t.Fatalf("tftp get %s: %s", name, o)
		}
		sameFile(t, local+".hpa", want, "tftp-hpa "+name)
		if o := atftpGet(t, ts.port, name, local+".atftp"); strings.Contains(o, "rror") {
			t.Fatalf("atftp get %s: %s", name, o)
		}
		sameFile(t, local+".atftp", want, "atftp "+name)
	}
	// An absolute path inside the root is served too.
	abs := filepath.Join(r.dir, smallFile)
	hpaGet(t, ts.port, abs, filepath.Join(out, "abs.txt"))
	sameFile(t, filepath.Join(out, "abs.txt"), r.files[smallFile], "tftp-hpa absolute path inside the root")
}

// refusedByHPA checks tftp-hpa reports a TFTP error and writes nothing of
// the file.
func refusedByHPA(t *testing.T, port uint16, file string) string {
	t.Helper()
	local := filepath.Join(t.TempDir(), "out")
	o := hpaGet(t, port, file, local)
	if !strings.Contains(o, "Error code") {
		t.Fatalf("tftp get %q: no TFTP error, output: %q", file, o)
	}
	if b, err := os.ReadFile(local); err == nil && len(b) > 0 {
		t.Fatalf("tftp get %q wrote %d bytes: %q", file, len(b), b)
	}
	return o
}

// TestClientsRefused: every name that is not a boot binary is refused with
// a TFTP error, whatever the root holds under it (a secret, a symlink out
// of the root or to a directory or device, a FIFO), and so is every path
// trick; nothing of the file reaches the client.
func TestClientsRefused(t *testing.T) {
	needTool(t, "tftp")
	needTool(t, "atftp")
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	const notBoot = "not a boot file"
	cases := []struct{ file, reason string }{
		{"shadow", notBoot},
		{"small.txt", notBoot},
		{"big.bin", notBoot},
		{"../../etc/passwd", "leaves the TFTP root"},
		{"/etc/passwd", "absolute path outside"},
		{"/etc/shadow", "absolute path outside"},
		{`..\..\etc\passwd`, "leaves the TFTP root"},
		{"sub/../../outside/secret", "leaves the TFTP root"},
		{r.outside + "/secret", "absolute path outside"},
		{r.dir + "/../outside/secret", "leaves the TFTP root"},
		{r.dir + "/shadow", notBoot},
		{"%2e%2e/%2e%2e/etc/passwd", notBoot},
		{"escape-abs", notBoot},
		{"escape-rel", notBoot},
		{"sub/escape-up", notBoot},
		{"escape-dir/secret", notBoot},
		{"passwd-link", notBoot},
		{"etc-link/passwd", notBoot},
		{"proc-self-root/etc/passwd", notBoot},
		{"sub", notBoot},
		{"dir-link", notBoot},
		{"null-link", notBoot},
		{"missing.bin", notBoot},
		{"dangling", notBoot},
		{"fifo", notBoot},
	}
	for _, c := range cases {
		o := refusedByHPA(t, ts.port, c.file)
		if !strings.Contains(o, c.reason) {
			t.Errorf("tftp get %q: %q, want the reason %q", c.file, o, c.reason)
		}
	}
	// atftp too, on the classic ones.
	for file, reason := range map[string]string{"../../etc/passwd": "leaves the TFTP root", "shadow": notBoot} {
		local := filepath.Join(t.TempDir(), "out")
		o := atftpGet(t, ts.port, file, local)
		if !strings.Contains(o, reason) {
			t.Errorf("atftp get %s: %q, want %q", file, o, reason)
		}
		if b, _ := os.ReadFile(local); len(b) > 0 {
			t.Errorf("atftp wrote %d bytes of %s", len(b), file)
		}
	}
	// Refusals are recorded for the declared node.
	for _, file := range []string{"../../etc/passwd", "shadow"} {
		if _, ok := ts.rec.find(status.StageDenied, file); !ok {
			t.Errorf("no DENIED event for %s; events: %+v", file, ts.rec.all())
		}
	}
	if ev := ts.rec.all(); len(ev) != len(cases)+2 {
		t.Errorf("%d events for %d refusals", len(ev), len(cases)+2)
	}
	for _, ev := range ts.rec.all() {
		if ev.Stage == status.StageTFTP {
			t.Errorf("a refused request was recorded as sent: %+v", ev)
		}
	}
}

// TestClientsBootFileSymlinks: a boot binary that is a symlink is followed
// only to a regular file (as Debian's ipxe.efi into /boot), never to a
// directory, a device or a FIFO; the files served are logged once, at the
// first snapshot, with where each resolves.
func TestClientsBootFileSymlinks(t *testing.T) {
	needTool(t, "tftp")
	r := makeRoot(t)
	for name, target := range map[string]string{
		"undionly.kpxe":     r.outside,   // a directory
		"snponly.efi":       "/dev/null", // a device
		"arm64/snponly.efi": "../fifo",   // a FIFO
	} {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	ts := startServer(t, r.dir, Config{})
	for _, name := range []string{"undionly.kpxe", "snponly.efi", "arm64/snponly.efi"} {
		if o := refusedByHPA(t, ts.port, name); !strings.Contains(o, "not a regular file") {
			t.Errorf("tftp get %s (a symlink to no regular file): %q", name, o)
		}
	}
	local := filepath.Join(t.TempDir(), "ipxe.efi")
	if o := hpaGet(t, ts.port, "ipxe.efi", local); strings.Contains(o, "Error") {
		t.Fatalf("tftp get ipxe.efi: %s", o)
	}
	sameFile(t, local, r.files["ipxe.efi"], "tftp-hpa ipxe.efi through its symlink")

	want := "ipxe.efi=" + filepath.Join(r.outside, "ipxe-real.efi")
	ts.Update(snapshot(r.dir)) // the same files: not logged again
	if n := strings.Count(ts.log.String(), "tftp: serving only these boot files"); n != 1 || !strings.Contains(ts.log.String(), want) {
		t.Errorf("want one log line of the boot files with %q, got %d:\n%s", want, n, ts.log.String())
	}
}

func TestClientsPutRefused(t *testing.T) {
	needTool(t, "tftp")
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	src := filepath.Join(t.TempDir(), "upload.bin")
	mustWrite(t, src, []byte("should never arrive"))
	for _, remote := range []string{"upload.bin", smallFile} {
		o := run(t, filepath.Dir(src), "tftp", "-m", "binary", "127.0.0.1", strconv.Itoa(int(ts.port)), "-c", "put", src, remote)
		if !strings.Contains(o, "Error code") || !strings.Contains(o, "read-only") {
			t.Fatalf("tftp put %s: %q, want a read-only TFTP error", remote, o)
		}
	}
	if _, err := os.Stat(filepath.Join(r.dir, "upload.bin")); err == nil {
		t.Fatal("upload.bin was created in the root")
	}
	if b, _ := os.ReadFile(filepath.Join(r.dir, smallFile)); !bytes.Equal(b, r.files[smallFile]) {
		t.Fatal("small.txt was changed by a put")
	}
	if !strings.Contains(ts.log.String(), "writes are refused") {
		t.Fatalf("no log line for the refused write:\n%s", ts.log.String())
	}
}

// Many real clients at once, both kinds, all byte-identical.
func TestClientsConcurrent(t *testing.T) {
	needTool(t, "tftp")
	needTool(t, "atftp")
	r := makeRoot(t)
	ts := startServer(t, r.dir, Config{})
	out := t.TempDir()
	files := []string{bigFile, "ipxe.efi", "undionly.kpxe", exactFile}
	const n = 32
	// Snapshots keep being swapped in while the clients run.
	swapping := make(chan struct{})
	swapped := make(chan int)
	go func() {
		k := 0
		for {
			select {
			case <-swapping:
				swapped <- k
				return
			default:
				ts.Update(snapshot(r.dir))
				k++
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			file := files[i%len(files)]
			local := filepath.Join(out, fmt.Sprintf("%d-%s", i, strings.ReplaceAll(file, "/", "_")))
			var o string
			if i%2 == 0 {
				o = hpaGet(t, ts.port, file, local)
			} else {
				o = atftpGet(t, ts.port, file, local)
			}
			b, err := os.ReadFile(local)
			if err != nil || !bytes.Equal(b, r.files[file]) {
				errs <- fmt.Errorf("client %d %s: %d bytes, err %v, output %q", i, file, len(b), err, o)
			}
		}()
	}
	wg.Wait()
	close(swapping)
	if k := <-swapped; k == 0 {
		t.Error("no snapshot was swapped in during the transfers")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ts.rec.wait(t, n)
}
