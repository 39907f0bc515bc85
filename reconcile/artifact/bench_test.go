package artifact

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitboot/gitboot/hclspec"
)

// makeBenchTree writes about mb MiB of files shaped like an OS image:
// many small text-like files (compressible) and some larger binary-like
// ones (mostly incompressible), in a few hundred directories.
func makeBenchTree(b *testing.B, dir string, mb int) int64 {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 2000)
	for i := range words {
		n := 2 + rng.IntN(10)
		w := make([]byte, n)
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(w)
	}
	write(b, filepath.Join(dir, "boot/vmlinuz-6.1.0-13-amd64"), strings.Repeat("kernel", 1000), 0o644)
	var total int64
	limit := int64(mb) << 20
	for i := 0; total < limit; i++ {
		p := filepath.Join(dir, fmt.Sprintf("usr/d%03d/f%05d", i%300, i))
		var size int
		var data []byte
		if i%10 == 0 { // binary: 64 KiB .. 2 MiB, half random half zero runs
			size = 64<<10 + rng.IntN(2<<20)
			data = make([]byte, size)
			for j := 0; j < size; j += 4096 {
				if rng.IntN(3) > 0 {
					end := min(j+4096, size)
					for k := j; k < end; k += 8 {
						v := rng.Uint64()
						for x := 0; x < 8 && k+x < end; x++ {
							data[k+x] = byte(v >> (8 * x))
						}
					}
				}
			}
		} else { // text: 256 B .. 48 KiB
			size = 256 + rng.IntN(48<<10)
			var sb strings.Builder
			for sb.Len() < size {
				sb.WriteString(words[rng.IntN(len(words))])
				if rng.IntN(12) == 0 {
					sb.WriteByte('\n')
				} else {
					sb.WriteByte(' ')
				}
			}
			data = []byte(sb.String())
		}
		write(b, p, string(data), 0o644)
		total += int64(len(data))
	}
	return total
}

// BenchmarkImage builds an image artifact from a tree (size from
// GITBOOT_BENCH_IMAGE_MB, default 64) with the Builder, and in the same run
// the peer `find . | cpio -o -H newc | pigz` of the same tree. Metrics:
// seconds for each and ratio = peer time / gitboot time (>= 1: gitboot is
// at least as fast).
func BenchmarkImage(b *testing.B) {
	mb := 64
	if v, err := strconv.Atoi(os.Getenv("GITBOOT_BENCH_IMAGE_MB")); err == nil && v > 0 {
		mb = v
	}
	for _, tool := range []string{"cpio", "pigz", "find"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	src := b.TempDir()
	total := makeBenchTree(b, src, mb)
	out := b.TempDir()
	tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: src}}, nodes: mkNodes(1, "img", nil, nil)}
	c := tc.build()
	// Warm the page cache for both.
	shell(b, src, "cat $(find . -type f) > /dev/null")
	b.SetBytes(total)
	b.ResetTimer()
	var ours, peer time.Duration
	var oursSize, peerSize int64
	for i := 0; i < b.N; i++ {
		state := filepath.Join(out, fmt.Sprintf("state%d", i))
		t0 := time.Now()
		bl, err := New(Config{StateDir: state})
		if err != nil {
			b.Fatal(err)
		}
		r, err := bl.Build(context.Background(), c, "")
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		oursSize = r.Nodes["n00000"].Image.Size

		dst := filepath.Join(out, fmt.Sprintf("peer%d.img.gz", i))
		t0 = time.Now()
		shell(b, src, "find . | cpio -o -H newc --quiet | pigz > "+dst)
		peer += time.Since(t0)
		st, err := os.Stat(dst)
		if err != nil {
			b.Fatal(err)
		}
		peerSize = st.Size()
		b.StopTimer()
		os.RemoveAll(state)
		os.Remove(dst)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "gitboot-s")
	b.ReportMetric(peer.Seconds()/n, "peer-s")
	b.ReportMetric(peer.Seconds()/ours.Seconds(), "ratio")
	b.ReportMetric(float64(total)/(1<<20)/(ours.Seconds()/n), "gitboot-MB/s")
	b.ReportMetric(float64(total)/(1<<20)/(peer.Seconds()/n), "peer-MB/s")
	b.ReportMetric(float64(oursSize)/(1<<20), "gitboot-out-MB")
	b.ReportMetric(float64(peerSize)/(1<<20), "peer-out-MB")
}

// benchRepo is an overlay repository like a real site's: a per-node
// network template, a node-independent file set, a runtime secret.
func benchRepo(extra string) fstest.MapFS {
	return fstest.MapFS{
		"overlays/generic/etc/network/interfaces.tmpl":  {Data: []byte("auto eth0\niface eth0 inet static\n  address {{.Node.IP}}/{{.Network.Prefix}}\n  gateway {{.Network.Gateway}}\n{{range .Network.DNS}}  dns-nameserver {{.}}\n{{end}}" + extra), Mode: 0o644},
		"overlays/generic/etc/motd.tmpl":                {Data: []byte("{{.Node.Name}} ({{index .Node.Tags \"role\"}}, rack {{index .Node.Tags \"rack\"}}) served by {{.Server.Name}}\n"), Mode: 0o644},
		"overlays/generic/etc/ssh/sshd_config":          {Data: []byte(strings.Repeat("# sshd config line\n", 200)), Mode: 0o644},
		"overlays/generic/usr/local/bin/health":         {Data: []byte(strings.Repeat("#!/bin/sh\necho ok\n", 50)), Mode: 0o755},
		"overlays/generic/etc/sysctl.d/90-site.conf":    {Data: []byte("vm.swappiness = 10\n"), Mode: 0o644},
		"overlays/secrets/etc/munge/munge.key":          {Data: []byte(strings.Repeat("k", 1024)), Mode: 0o400},
		"overlays/secrets/etc/ssh/ssh_host_ed25519_key": {Data: []byte(strings.Repeat("h", 400)), Mode: 0o600},
	}
}

// benchCluster is n nodes with benchRepo's overlays: generic and the
// builtin hostname as system overlays (so every node's differs), secrets
// as the runtime overlay; src is the image's source.
func benchCluster(src string, n int) *testCluster {
	return &testCluster{
		fs:       benchRepo(""),
		images:   []*hclspec.Image{{Name: "img", Source: src}},
		overlays: []*hclspec.Overlay{{Name: "generic", Source: "overlays/generic"}, {Name: "hostname", Builtin: "hostname"}, {Name: "secrets", Source: "overlays/secrets"}},
		nodes:    mkNodes(n, "img", []string{"generic", "hostname"}, []string{"secrets"}),
	}
}

// BenchmarkOverlays measures overlay builds for 1,000 and 10,000 nodes:
// a full build into an empty store, a rebuild after one node's IP
// changed, and a rebuild after a template every node uses changed.
func BenchmarkOverlays(b *testing.B) {
	src := b.TempDir()
	write(b, filepath.Join(src, "boot/vmlinuz-1"), "kernel", 0o644)
	for _, n := range []int{1000, 10000} {
		tc := benchCluster(src, n)
		b.Run(fmt.Sprintf("nodes=%d/full", n), func(b *testing.B) {
			c := tc.build()
			for i := 0; i < b.N; i++ {
				bl := newBuilder(b, b.TempDir())
				r := mustBuild(b, bl, c)
				if r.Built != n+1 {
					b.Fatalf("built %d", r.Built)
				}
			}
			reportHeap(b)
		})
		b.Run(fmt.Sprintf("nodes=%d/one-node-ip", n), func(b *testing.B) {
			benchOneNodeIP(b, newBuilder(b, b.TempDir()), tc)
		})
		b.Run(fmt.Sprintf("nodes=%d/shared-template", n), func(b *testing.B) {
			bl := newBuilder(b, b.TempDir())
			mustBuild(b, bl, tc.build())
			defer func() { tc.fs = benchRepo("") }()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tc.fs = benchRepo(fmt.Sprintf("# change %d\n", i))
				c := tc.build()
				b.StartTimer()
				r := mustBuild(b, bl, c)
				if r.Built != n {
					b.Fatalf("built %d, want %d", r.Built, n)
				}
			}
			reportHeap(b)
		})
	}
}

// benchOneNodeIP measures rebuilds after the middle node's IP changed,
// each of which must build that node's system overlay alone.
func benchOneNodeIP(b *testing.B, bl *Builder, tc *testCluster) {
	mustBuild(b, bl, tc.build())
	n := len(tc.nodes)
	orig := tc.nodes[n/2].IP
	defer func() { tc.nodes[n/2].IP = orig }()
	ip := orig
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ip = ip.Next()
		tc.nodes[n/2].IP = ip
		c := tc.build()
		b.StartTimer()
		if r := mustBuild(b, bl, c); r.Built != 1 {
			b.Fatalf("built %d, want 1", r.Built)
		}
	}
}

// reportHeap reports the live heap after a collection and the process's
// peak RSS so far.
func reportHeap(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				b.ReportMetric(float64(kb)/1024, "peakRSS-MB")
			}
		}
	}
}

// BenchmarkStartCheck measures New on a store of 10,000 nodes' artifacts
// (20,001 files): the check at start (a stat of each file, its size
// against the manifests), with every artifact verified before, as after a
// clean stop.
func BenchmarkStartCheck(b *testing.B) {
	src := b.TempDir()
	write(b, filepath.Join(src, "boot/vmlinuz-1"), "kernel", 0o644)
	tc := benchCluster(src, 10000)
	state := b.TempDir()
	bl := newBuilder(b, state)
	if err := bl.Commit(mustBuild(b, bl, tc.build())); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if nb := newBuilder(b, state); len(nb.unverified) != 0 {
			b.Fatalf("%d artifacts unverified after a clean stop", len(nb.unverified))
		}
	}
}
