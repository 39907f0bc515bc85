package artifact

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchAgentSize is the size of the gitboot-agent binary the system overlay
// benchmarks put into every system overlay (the real one is about 6.5 MB).
const benchAgentSize = 6500 << 10

// writeBenchAgent writes an agent-like binary of benchAgentSize bytes: the
// start of this test binary (Go machine code and data, so it compresses
// like the real agent), repeated if the binary is smaller.
func writeBenchAgent(b *testing.B, dir string) string {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 0, benchAgentSize)
	buf := make([]byte, 1<<20)
	for len(data) < benchAgentSize {
		n, err := f.Read(buf[:min(len(buf), benchAgentSize-len(data))])
		data = append(data, buf[:n]...)
		if err == io.EOF {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
		} else if err != nil {
			b.Fatal(err)
		}
	}
	p := filepath.Join(dir, AgentName)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSystemOverlays measures system overlay builds when every node's
// system overlay differs (the builtin hostname overlay and a per-node
// template among system_overlays) and gitboot's init overlay carries a
// 6.5 MB agent: a full build of 100 and 1,000 nodes into an empty store,
// and a rebuild after one node's IP changed. Metrics: ms per node for the
// full build, and the store's size per node.
func BenchmarkSystemOverlays(b *testing.B) {
	src := b.TempDir()
	write(b, filepath.Join(src, "boot/vmlinuz-1"), "kernel", 0o644)
	agent := writeBenchAgent(b, b.TempDir())
	for _, n := range []int{100, 1000} {
		tc := benchCluster(src, n)
		b.Run(fmt.Sprintf("nodes=%d/full", n), func(b *testing.B) {
			c := tc.build()
			var stored int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				state := b.TempDir()
				bl, err := New(Config{StateDir: state, Agent: agent})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				r := mustBuild(b, bl, c)
				b.StopTimer()
				if r.Built != n+1 {
					b.Fatalf("built %d, want %d", r.Built, n+1)
				}
				stored = dirSize(b, filepath.Join(state, "artifacts", "sha256"))
				os.RemoveAll(state)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(n), "ms/node")
			b.ReportMetric(float64(stored)/float64(n)/(1<<20), "store-MB/node")
			reportHeap(b)
		})
		b.Run(fmt.Sprintf("nodes=%d/one-node-ip", n), func(b *testing.B) {
			bl, err := New(Config{StateDir: b.TempDir(), Agent: agent})
			if err != nil {
				b.Fatal(err)
			}
			benchOneNodeIP(b, bl, tc)
		})
	}
}

// dirSize is the total size of the files in dir.
func dirSize(b *testing.B, dir string) int64 {
	b.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += info.Size()
	}
	return n
}
