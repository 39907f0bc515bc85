package httpboot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// goldenSnapshot is a fixed snapshot for the script golden files.
func goldenSnapshot() *bootsvc.Snapshot {
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("10.99.0.1"), HTTPPort: 9873, RuntimeInterval: time.Minute}
	art := func(name string) bootsvc.Artifact {
		sum := sha256.Sum256([]byte(name))
		return bootsvc.Artifact{Path: "/var/lib/gitboot/store/" + name, Digest: "sha256:" + hex.EncodeToString(sum[:]), Name: name}
	}
	arts := bootsvc.Artifacts{Kernel: art("vmlinuz"), Image: art("image.img.gz"), System: art("system.img.gz"), Runtime: art("runtime.img.gz")}
	withExtra := arts
	withExtra.Extra = []bootsvc.Artifact{art("modules.img.gz"), art("firmware.img.gz")}
	nodes := []bootsvc.Node{
		{Name: "c001", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.99.0.11"), Network: "cluster",
			KernelArgs: []string{"quiet", "console=ttyS0"}, Artifacts: arts},
		{Name: "c002", MAC: "52:54:00:00:00:02", IP: netip.MustParseAddr("10.99.0.12"), Network: "cluster",
			Artifacts: withExtra},
		{Name: "evil", MAC: "52:54:00:00:00:03", IP: netip.MustParseAddr("10.99.0.13"), Network: "cluster",
			KernelArgs: []string{"a\nshell", "", "b\r"}, Artifacts: arts},
		{Name: "c004", MAC: "52:54:00:00:00:04", IP: netip.MustParseAddr("10.99.0.14"), Network: "cluster",
			KernelArgs: []string{"console=ttyS0"}, Root: "tmpfs", RootSize: "8G", Artifacts: arts},
	}
	nets := []bootsvc.Network{{Name: "cluster", Subnet: netip.MustParsePrefix("10.99.0.0/24")}}
	return bootsvc.NewSnapshot(srv, nets, nodes, "0123abcd")
}

// secureSnapshot is snap with secure_runtime and a 5 s runtime_interval.
func secureSnapshot(snap *bootsvc.Snapshot) *bootsvc.Snapshot {
	srv := snap.Server
	srv.SecureRuntime, srv.RuntimeInterval = true, 5*time.Second
	return bootsvc.NewSnapshot(srv, append([]bootsvc.Network(nil), snap.Networks...), append([]bootsvc.Node(nil), snap.Nodes...), snap.Commit)
}

func TestScriptGolden(t *testing.T) {
	snap := goldenSnapshot()
	for _, tc := range []struct {
		name, mac, node string
	}{
		{"node", "52:54:00:00:00:01", "c001"},
		{"extra-initrds", "52:54:00:00:00:02", "c002"},
		{"control-chars-in-args", "52:54:00:00:00:03", "evil"},
		{"unknown-mac", "52:54:00:aa:bb:cc", ""},
		{"secure-runtime", "52:54:00:00:00:01", "c001"},
		{"tmpfs-root", "52:54:00:00:00:04", "c004"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := snap
			if tc.name == "secure-runtime" {
				snap = secureSnapshot(snap)
			}
			got, node := AppendScript(nil, snap, tc.mac)
			if (node == nil) != (tc.node == "") || (node != nil && node.Name != tc.node) {
				t.Fatalf("node %v, want %q", node, tc.node)
			}
			if !bytes.HasPrefix(got, []byte("#!ipxe\n")) {
				t.Fatal("no #!ipxe line")
			}
			if !bytes.Contains(got, []byte(snap.Server.HTTPBase())) {
				t.Fatalf("script does not name %s", snap.Server.HTTPBase())
			}
			for i, l := range strings.Split(string(got), "\n") {
				if strings.ContainsAny(l, "\r\x00") {
					t.Fatalf("line %d has a control character: %q", i, l)
				}
			}
			p := filepath.Join("testdata", tc.name+".ipxe")
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(p, got, 0o644)
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs:\n--- got\n%s--- want\n%s", p, got, want)
			}
		})
	}
}

// TestScriptSteps checks the boot contract line by line: initrd names match
// the kernel's initrd= arguments, each step retries on failure.
func TestScriptSteps(t *testing.T) {
	snap := goldenSnapshot()
	got, node := AppendScript(nil, snap, "52:54:00:00:00:02")
	s := string(got)
	base := "http://10.99.0.1:9873"
	hx := func(a bootsvc.Artifact) string { return strings.TrimPrefix(a.Digest, "sha256:") }
	arts := node.Artifacts
	for _, want := range []string{
		"kernel --name kernel " + base + "/kernel/52:54:00:00:00:02/" + hx(arts.Kernel) + " initrd=image initrd=extra0 initrd=extra1 initrd=system initrd=runtime gitboot.node=c002 gitboot.server=" + base + " gitboot.mac=52:54:00:00:00:02 gitboot.interval=60s gitboot.ip=10.99.0.12/24 || goto kernel_failed\n",
		"initrd --name image " + base + "/image/52:54:00:00:00:02/" + hx(arts.Image) + " || goto image_failed\n",
		"initrd --name extra1 " + base + "/extra/52:54:00:00:00:02/1/" + hx(arts.Extra[1]) + " || goto extra1_failed\n",
		"initrd --name runtime " + base + "/runtime-initrd/52:54:00:00:00:02/" + hx(arts.Runtime) + " || goto runtime_failed\n",
		":system_failed\necho gitboot: downloading system failed, retrying in 10 s\nsleep 10\ngoto system\n",
		"boot || goto boot_failed\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	// Order: image, extras, system, runtime.
	order := []string{"--name image", "--name extra0", "--name extra1", "--name system", "--name runtime", "\nboot "}
	last := -1
	for _, o := range order {
		i := strings.Index(s, o)
		if i < last {
			t.Errorf("%q out of order", o)
		}
		last = i
	}
	// Every URL the script names parses back to its route, MAC and digest.
	for _, u := range regexp.MustCompile(`http://\S+/(?:kernel|image|extra|system|runtime|runtime-initrd)/\S+`).FindAllString(s, -1) {
		p := parsePath(strings.TrimPrefix(u, base), "")
		if p.route == routeNone || p.mac != "52:54:00:00:00:02" || len(p.digest) != 64 {
			t.Errorf("%s parses to %+v", u, p)
		}
	}

	// An artifact without a sha256 digest gets the plain URL.
	nodes := append([]bootsvc.Node(nil), snap.Nodes...)
	nodes[1].Artifacts.Image.Digest = ""
	nodes[1].Artifacts.System.Digest = "sha256:00"
	got, _ = AppendScript(nil, newSnap(snap, nodes), "52:54:00:00:00:02")
	for _, want := range []string{
		"initrd --name image " + base + "/image/52:54:00:00:00:02 || goto image_failed\n",
		"initrd --name system " + base + "/system/52:54:00:00:00:02 || goto system_failed\n",
		"initrd --name runtime " + base + "/runtime-initrd/52:54:00:00:00:02/" + hx(arts.Runtime) + " || goto runtime_failed\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("script without digests lacks %q", want)
		}
	}
}

// TestScriptSecureRuntime: with secure_runtime the script loads no runtime
// overlay (iPXE cannot bind a privileged port; the agent fetches it at
// init) and tells /init and the agent so; the rest of the boot is as
// without it.
func TestScriptSecureRuntime(t *testing.T) {
	for _, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:02"} {
		plain, _ := AppendScript(nil, goldenSnapshot(), mac)
		got, node := AppendScript(nil, secureSnapshot(goldenSnapshot()), mac)
		s := string(got)
		for _, bad := range []string{"runtime", strings.TrimPrefix(node.Artifacts.Runtime.Digest, "sha256:")} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: secure script names %q:\n%s", mac, bad, s)
			}
		}
		if !strings.Contains(s, " gitboot.mac="+mac+" gitboot.interval=5s gitboot.secure=1 gitboot.ip=") {
			t.Errorf("%s: kernel line lacks gitboot.interval=5s gitboot.secure=1:\n%s", mac, s)
		}
		// Everything else is the same script: the plain one without the
		// runtime initrd step and its retry handler.
		lines := strings.Split(string(plain), "\n")
		var want []string
		for k := 0; k < len(lines); k++ {
			switch l := lines[k]; {
			case l == ":runtime":
				k++ // and its initrd line
			case l == ":runtime_failed":
				k += 3 // echo, sleep, goto
			case strings.HasPrefix(l, "kernel "):
				l = strings.Replace(l, " initrd=runtime", "", 1)
				want = append(want, strings.Replace(l, "gitboot.interval=60s", "gitboot.interval=5s gitboot.secure=1", 1))
			default:
				want = append(want, l)
			}
		}
		if w := strings.Join(want, "\n"); s != w {
			t.Errorf("%s: secure script\n%s\nwant\n%s", mac, s, w)
		}
	}
}

func TestAppendInterval(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "60s", -time.Second: "60s", time.Minute: "60s", 5 * time.Second: "5s", time.Hour: "3600s", 1500 * time.Millisecond: "1.5s",
	} {
		got := string(appendInterval(nil, d))
		if got != want {
			t.Errorf("appendInterval(%v) = %q, want %q", d, got, want)
		}
		if p, err := time.ParseDuration(got); err != nil || (d > 0 && p != d) {
			t.Errorf("%q does not parse back to %v: %v %v", got, d, p, err)
		}
	}
}

// respSink is a minimal ResponseWriter reused across benchmark iterations.
type respSink struct {
	h    http.Header
	n    int
	code int
}

func (r *respSink) Header() http.Header         { return r.h }
func (r *respSink) WriteHeader(c int)           { r.code = c }
func (r *respSink) Write(p []byte) (int, error) { r.n += len(p); return len(p), nil }

// BenchmarkIPXEHandler measures the /ipxe/{mac} route in process: requests
// per second and allocations per request (the response write is the
// sink's, which does not allocate).
func BenchmarkIPXEHandler(b *testing.B) {
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory()})
	req := httptest.NewRequest("GET", "/ipxe/52:54:00:00:00:01", nil)
	req.RemoteAddr = "10.99.0.11:3456"
	w := &respSink{h: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.n = 0
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	if w.n == 0 {
		b.Fatal("empty response")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func TestIPXEHandlerAllocs(t *testing.T) {
	h := New(Config{Snapshot: goldenSnapshot(), Status: status.NewMemory()})
	req := httptest.NewRequest("GET", "/ipxe/52:54:00:00:00:01", nil)
	req.RemoteAddr = "10.99.0.11:3456"
	w := &respSink{h: make(http.Header)}
	h.ServeHTTP(w, req) // warm the pools and the metric cache
	if n := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) }); n > 0 {
		t.Errorf("/ipxe/{mac} allocates %.1f times per request, want 0", n)
	}
}

// BenchmarkIPXELoopback measures /ipxe/{mac} over real TCP with keep-alive
// clients in parallel: requests per second through the whole server.
func BenchmarkIPXELoopback(b *testing.B) {
	h := New(Config{Status: status.NewMemory(), Logger: discardLogger()})
	ln := listen(b)
	snap := goldenSnapshot()
	srv := snap.Server
	srv.Address = netip.MustParseAddr("127.0.0.1")
	srv.HTTPPort = ln.Addr().(*net.TCPAddr).Port
	h.Update(bootsvc.NewSnapshot(srv, snap.Networks, snap.Nodes, snap.Commit))
	start(b, h, ln)
	url := srv.HTTPBase() + "/ipxe/52:54:00:00:00:01"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// The node's address, prefix, gateway and DNS servers reach gitboot's
// /init on the kernel command line.
func TestScriptNetArgs(t *testing.T) {
	nw := bootsvc.Network{Name: "lan", Subnet: netip.MustParsePrefix("10.5.0.0/16"), Gateway: netip.MustParseAddr("10.5.0.1"),
		DNS: []netip.Addr{netip.MustParseAddr("10.5.0.2"), netip.MustParseAddr("10.5.0.3")}}
	node := bootsvc.Node{Name: "c9", MAC: "52:54:00:00:00:09", IP: netip.MustParseAddr("10.5.3.9"), Network: "lan"}
	snap := bootsvc.NewSnapshot(bootsvc.Server{Name: "s", Address: netip.MustParseAddr("10.5.0.1"), HTTPPort: 9873}, []bootsvc.Network{nw}, []bootsvc.Node{node}, "")
	got, _ := AppendScript(nil, snap, node.MAC)
	if want := " gitboot.ip=10.5.3.9/16 gitboot.gateway=10.5.0.1 gitboot.dns=10.5.0.2,10.5.0.3 || goto kernel_failed\n"; !strings.Contains(string(got), want) {
		t.Errorf("script lacks %q:\n%s", want, got)
	}
}
