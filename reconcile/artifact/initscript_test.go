package artifact

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// initScript is gitboot's /init in this source tree.
const initScript = "builtin/init/init"

// initShells are the shells /init must run under: busybox sh (small
// images) and dash (Debian's /bin/sh). A missing one is skipped, except
// under CI.
func initShells(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, sh := range [][]string{{"dash"}, {"busybox", "sh"}} {
		if _, err := exec.LookPath(sh[0]); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", sh[0])
			}
			t.Logf("%s not installed: not tested with it", sh[0])
			continue
		}
		out = append(out, sh)
	}
	if len(out) == 0 {
		t.Skip("neither dash nor busybox installed")
	}
	return out
}

// TestInitScriptParses: /init is valid POSIX sh for both shells.
func TestInitScriptParses(t *testing.T) {
	for _, sh := range initShells(t) {
		out, err := exec.Command(sh[0], append(sh[1:], "-n", initScript)...).CombinedOutput()
		if err != nil {
			t.Errorf("%s -n %s: %v\n%s", strings.Join(sh, " "), initScript, err, out)
		}
	}
}

// TestInitScriptNoRootShell: /bin/sh is no init candidate any more (it
// was the root shell on the console of a node without an init), and the
// agent lives under /usr/lib/gitboot, outside the links of merged /usr.
func TestInitScriptNoRootShell(t *testing.T) {
	data, err := os.ReadFile(initScript)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if regexp.MustCompile(`(?m)^\s*for f in .*/bin/sh`).MatchString(s) {
		t.Error("/bin/sh is still an init candidate")
	}
	if !strings.Contains(s, "\nAGENT=/usr/lib/gitboot/gitboot-agent\n") {
		t.Error("AGENT is not /usr/lib/gitboot/gitboot-agent")
	}
}

// initLib runs script after sourcing /init's functions (GITBOOT_INIT_LIB=1)
// in sh, with dir as the working directory; it returns the output.
func initLib(t *testing.T, sh []string, dir, script string, env ...string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(initScript)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh[0], append(sh[1:], "-c", ". "+abs+"\n"+script)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GITBOOT_INIT_LIB=1"}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestInitCmdline: the kernel command line is split with globbing off (a
// "gitboot.init=x*" stays itself, never the names of files where /init
// runs), and
// globbing is back on after it.
func TestInitCmdline(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a1", "a2", "gitboot.init=x-file"} {
		write(t, filepath.Join(dir, f), "", 0o644)
	}
	for _, sh := range initShells(t) {
		out, err := initLib(t, sh, dir, `
parse_cmdline 'quiet * gitboot.node=c001 gitboot.init=x* gitboot.root=tmpfs gitboot.root_size=8G gitboot.dns=10.0.0.1,10.0.0.2 gitboot.secure'
echo "node=$NODE init=$INIT root=$ROOT size=$ROOT_SIZE dns=$K_DNS secure=$SECURE"
echo glob: a*`)
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh[0], err, out)
		}
		want := "node=c001 init=x* root=tmpfs size=8G dns=10.0.0.1 10.0.0.2 secure=1\nglob: a1 a2\n"
		if out != want {
			t.Errorf("%s:\n got %q\nwant %q", sh[0], out, want)
		}
	}
}

// TestInitPickInit: every candidate is named with what is wrong with it;
// an executable gitboot.init= wins.
func TestInitPickInit(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "prog"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(dir, "plain"), "#!/bin/sh\n", 0o644)
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)
	os.Symlink("gone", filepath.Join(dir, "dangling"))
	for _, sh := range initShells(t) {
		for _, tc := range []struct{ init, target, tried string }{
			{"prog", dir + "/prog", " " + dir + "/prog"},
			{"plain", "", "gitboot.init=" + dir + "/plain (not executable) "},
			{"adir", "", "gitboot.init=" + dir + "/adir (a directory) "},
			{"dangling", "", "gitboot.init=" + dir + "/dangling (a dangling link to gone) "},
			{"nope", "", "gitboot.init=" + dir + "/nope (missing) "},
		} {
			out, err := initLib(t, sh, dir, `INIT=`+dir+"/"+tc.init+`; pick_init; echo "target=$TARGET"; echo "tried=$TRIED"`)
			if err != nil {
				t.Fatalf("%s: %v\n%s", sh[0], err, out)
			}
			lines := strings.SplitN(out, "\n", 2)
			if tc.target != "" && lines[0] != "target="+tc.target {
				t.Errorf("%s, gitboot.init=%s: %s", sh[0], tc.init, lines[0])
			}
			if tc.target == "" && lines[0] != "target=" && lines[0] != "target=/sbin/init" && lines[0] != "target=/etc/init" && lines[0] != "target=/bin/init" {
				t.Errorf("%s, gitboot.init=%s: %s", sh[0], tc.init, lines[0])
			}
			if !strings.Contains(lines[1], tc.tried) {
				t.Errorf("%s, gitboot.init=%s: tried %q, want it to say %q", sh[0], tc.init, lines[1], tc.tried)
			}
			if strings.Contains(lines[1], "/bin/sh") {
				t.Errorf("%s: /bin/sh tried as an init: %s", sh[0], lines[1])
			}
		}
	}
}

// TestInitRunTimeout: a hook that runs too long is stopped and said to
// have timed out, with timeout(1) and with the watchdog /init uses when
// the image has none; a quick one keeps its exit status.
func TestInitRunTimeout(t *testing.T) {
	for _, sh := range initShells(t) {
		for _, watchdog := range []bool{false, true} {
			pre := ""
			if watchdog {
				pre = `have() { [ "$1" != timeout ] && command -v "$1" >/dev/null 2>&1; }; `
			}
			start := time.Now()
			out, err := initLib(t, sh, t.TempDir(), pre+`
run_timeout 1 sleep 30; echo "slow rc=$? timed_out=$TIMED_OUT"
run_timeout 5 sh -c 'exit 3'; echo "quick rc=$? timed_out=$TIMED_OUT"
run_timeout 5 true; echo "ok rc=$? timed_out=$TIMED_OUT"`)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v\n%s", sh[0], err, out)
			}
			if !regexp.MustCompile(`slow rc=[1-9][0-9]* timed_out=1\nquick rc=3 timed_out=0\nok rc=0 timed_out=0\n$`).MatchString(out) {
				t.Errorf("%s (watchdog %v):\n%s", sh[0], watchdog, out)
			}
			if took > 15*time.Second {
				t.Errorf("%s (watchdog %v): a 1 s timeout took %s", sh[0], watchdog, took)
			}
		}
	}
}

// TestInitCopyRoot: the tree is copied with its links and modes, a
// dotfile too; /proc, /sys, /dev and /run become empty directories, and
// the destination (inside the tree) is not copied into itself.
func TestInitCopyRoot(t *testing.T) {
	for _, sh := range initShells(t) {
		src := t.TempDir()
		write(t, filepath.Join(src, "usr/bin/tool"), "x", 0o755)
		write(t, filepath.Join(src, "etc/shadow"), "s", 0o600)
		write(t, filepath.Join(src, ".hidden"), "h", 0o644)
		write(t, filepath.Join(src, "proc/1/status"), "not copied", 0o644)
		write(t, filepath.Join(src, "run/x"), "not copied", 0o644)
		os.Symlink("usr/bin", filepath.Join(src, "bin"))
		dest := filepath.Join(src, ".gitboot-root")
		os.Mkdir(dest, 0o755)
		out, err := initLib(t, sh, src, `copy_root "`+src+`" "`+dest+`" && echo copied`)
		if err != nil || out != "copied\n" {
			t.Fatalf("%s: %v\n%s", sh[0], err, out)
		}
		if l, err := os.Readlink(filepath.Join(dest, "bin")); err != nil || l != "usr/bin" {
			t.Errorf("%s: bin is %q %v, want the link usr/bin", sh[0], l, err)
		}
		if fi, err := os.Stat(filepath.Join(dest, "etc/shadow")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: etc/shadow: %v %v", sh[0], fi, err)
		}
		if _, err := os.Stat(filepath.Join(dest, ".hidden")); err != nil {
			t.Errorf("%s: the dotfile was not copied: %v", sh[0], err)
		}
		for _, d := range []string{"proc", "run"} {
			if ents, err := os.ReadDir(filepath.Join(dest, d)); err != nil || len(ents) != 0 {
				t.Errorf("%s: %s in the copy: %v %v, want an empty directory", sh[0], d, ents, err)
			}
		}
		if _, err := os.Stat(filepath.Join(dest, ".gitboot-root")); err == nil {
			t.Errorf("%s: the destination was copied into itself", sh[0])
		}
	}
}

// reportServer records the POSTs /init makes.
type reportServer struct {
	*httptest.Server
	mu    sync.Mutex
	posts []string // "PATH BODY"
}

func newReportServer(t *testing.T) *reportServer {
	s := &reportServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, r.Method+" "+r.URL.Path+" "+string(b))
		s.mu.Unlock()
		w.Write([]byte("recorded\n"))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *reportServer) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.posts...)
}

// TestInitExecFails: when the exec of the image's init fails, the shell
// does not die (PID 1 would take the kernel with it): /init says why and
// what it tried, reports INIT_FAILED (through the agent, else nc), and
// reboots; no shell is started.
func TestInitExecFails(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "gitboot-agent")
	if out, err := exec.Command("go", "build", "-o", agent, "../../cmd/gitboot-agent").CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	bbDir := ""
	if bb, err := exec.LookPath("busybox"); err == nil {
		bbDir = t.TempDir()
		os.Symlink(bb, filepath.Join(bbDir, "nc"))
	}
	for _, sh := range initShells(t) {
		for _, via := range []string{"agent", "nc"} {
			if via == "nc" && bbDir == "" {
				continue
			}
			srv := newReportServer(t)
			setup := `AGENT=` + agent
			if via == "nc" {
				// No agent, no wget: busybox's nc.
				setup = `AGENT=/nonexistent; PATH=` + bbDir + `:$PATH; have() { [ "$1" != wget ] && command -v "$1" >/dev/null 2>&1; }`
			}
			out, err := initLib(t, sh, t.TempDir(), setup+`
SERVER=`+srv.URL+`; MAC=52:54:00:00:00:01; REBOOT_DELAY=0
reboot_now() { echo REBOOTING; exit 0; }
rescue_shell() { echo SHELL; }
INIT=/nonexistent/init; pick_init; TARGET=/nonexistent/init
trap 'init_failed "exec $TARGET failed (exit $?)"' EXIT
exec "$TARGET"`)
			if err != nil {
				t.Fatalf("%s via %s: %v\n%s", sh[0], via, err, out)
			}
			for _, want := range []string{
				"gitboot init: init-failed: exec /nonexistent/init failed (exit 127)\n",
				"gitboot init: init-failed: tried: gitboot.init=/nonexistent/init (missing) ",
				"gitboot init: init-failed: reported to " + srv.URL,
				"gitboot init: init-failed: rebooting in 0 s",
				"REBOOTING",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("%s via %s: no %q in:\n%s", sh[0], via, want, out)
				}
			}
			if strings.Contains(out, "SHELL") {
				t.Errorf("%s via %s: a shell without gitboot.debug", sh[0], via)
			}
			posts := srv.got()
			if len(posts) != 1 || !strings.HasPrefix(posts[0], "POST /init-failed/52:54:00:00:00:01 exec /nonexistent/init failed (exit 127); tried: gitboot.init=/nonexistent/init (missing) ") {
				t.Errorf("%s via %s: the server got %q", sh[0], via, posts)
			}
		}
	}
}

// TestInitSecureFetch: the secure first fetch is retried with a growing
// delay until it works, and given up (with one failure line) only when
// the budget is spent.
func TestInitSecureFetch(t *testing.T) {
	for _, sh := range initShells(t) {
		dir := t.TempDir()
		// The fake agent fails until its third call.
		agent := filepath.Join(dir, "agent")
		write(t, agent, "#!/bin/sh\necho \"$*\" >>"+dir+"/calls\n[ $(wc -l <"+dir+"/calls) -ge 3 ]\n", 0o755)
		start := time.Now()
		out, err := initLib(t, sh, dir, `AGENT=`+agent+`; SERVER=http://s:1; MAC=m; SECURE=1; secure_fetch; echo "rc=$?"`)
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh[0], err, out)
		}
		for _, want := range []string{
			"gitboot init: agent: first fetch of the runtime overlay failed (exit 1, try 1); retrying in 1 s",
			"gitboot init: agent: first fetch of the runtime overlay failed (exit 1, try 2); retrying in 2 s",
			"gitboot init: agent: runtime overlay fetched (secure mode)\nrc=0\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in:\n%s", sh[0], want, out)
			}
		}
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		if !strings.HasPrefix(string(calls), "--once --server http://s:1 --mac m --secure\n") {
			t.Errorf("%s: the agent ran with %q", sh[0], calls)
		}
		if took := time.Since(start); took < 3*time.Second {
			t.Errorf("%s: three tries in %s: no backoff", sh[0], took)
		}

		// An agent that never succeeds: given up once the budget is spent.
		write(t, agent, "#!/bin/sh\nexit 7\n", 0o755)
		out, err = initLib(t, sh, dir, `AGENT=`+agent+`; SERVER=http://s:1; MAC=m; SECURE=1; SECURE_BUDGET=2; secure_fetch; echo "rc=$?"`)
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh[0], err, out)
		}
		if !regexp.MustCompile(`gitboot init: agent: first fetch of the runtime overlay failed 2 times over [0-9]+ s \(last exit 7\); booting without it\nrc=1\n$`).MatchString(out) {
			t.Errorf("%s: the budget spent:\n%s", sh[0], out)
		}
	}
}

// TestInitWaitCarrier: the carrier wait goes on while the link is down,
// says so at intervals, stops as soon as the carrier comes, and gives up
// after CARRIER_WAIT seconds.
func TestInitWaitCarrier(t *testing.T) {
	for _, sh := range initShells(t) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "eth0", "carrier"), "0\n", 0o644)
		start := time.Now()
		out, err := initLib(t, sh, dir, `SYS_NET=`+dir+`; IFACE=eth0; CARRIER_WAIT=30; CARRIER_TELL=1
(sleep 3; echo 1 >`+dir+`/eth0/carrier) &
wait_carrier; echo "rc=$? carrier=$CARRIER"`)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh[0], err, out)
		}
		if !strings.Contains(out, "gitboot init: network: waiting for a carrier on eth0 (") || !strings.HasSuffix(out, "rc=0 carrier=1\n") {
			t.Errorf("%s: a carrier after 3 s:\n%s", sh[0], out)
		}
		if took > 15*time.Second {
			t.Errorf("%s: the carrier came after 3 s, the wait took %s", sh[0], took)
		}

		write(t, filepath.Join(dir, "eth0", "carrier"), "0\n", 0o644)
		start = time.Now()
		out, err = initLib(t, sh, dir, `SYS_NET=`+dir+`; IFACE=eth0; CARRIER_WAIT=2; wait_carrier; echo "rc=$? carrier=$CARRIER"`)
		if err != nil || !strings.HasSuffix(out, "rc=1 carrier=0\n") || time.Since(start) < time.Second {
			t.Errorf("%s: no carrier: %v after %s:\n%s", sh[0], err, time.Since(start), out)
		}
	}
}
