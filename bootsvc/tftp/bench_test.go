package tftp

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	ptftp "github.com/pin/tftp/v3"
)

// benchRoot serves files of the iPXE binaries' sizes (undionly.kpxe ~74 kB,
// ipxe.efi ~850 kB) from a temp root. Every client is on 127.0.0.1, so
// the per-client limit is raised above BenchmarkTransferParallel's clients.
func benchRoot(b *testing.B) (*testServer, map[string]int) {
	b.Helper()
	dir := b.TempDir()
	sizes := map[string]int{"undionly.kpxe": 74_213, "ipxe.efi": 850_528}
	for name, n := range sizes {
		mustWrite(b, filepath.Join(dir, name), randomBytes(b, n))
	}
	return startServer(b, dir, Config{Log: quietLogger(), MaxPerClient: 256}), sizes
}

func benchClient(b *testing.B, port uint16, blksize int) *ptftp.Client {
	c, err := ptftp.NewClient(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		b.Fatal(err)
	}
	c.SetBlockSize(blksize)
	return c
}

func download(c *ptftp.Client, file string, want int) error {
	wt, err := c.Receive(file, "octet")
	if err != nil {
		return err
	}
	n, err := wt.WriteTo(io.Discard)
	if err != nil {
		return err
	}
	if int(n) != want {
		return fmt.Errorf("%s: %d bytes, want %d", file, n, want)
	}
	return nil
}

// BenchmarkTransfer: one download at a time, in-process pin/tftp client,
// loopback; MB/s is the transfer throughput.
func BenchmarkTransfer(b *testing.B) {
	ts, sizes := benchRoot(b)
	for _, file := range []string{"undionly.kpxe", "ipxe.efi"} {
		for _, blk := range []int{512, 1468} {
			b.Run(fmt.Sprintf("%s/blksize=%d", file, blk), func(b *testing.B) {
				c := benchClient(b, ts.port, blk)
				b.SetBytes(int64(sizes[file]))
				for b.Loop() {
					if err := download(c, file, sizes[file]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkTransferParallel: concurrent downloads (GOMAXPROCS x 16
// clients) of one file, blksize 1468.
func BenchmarkTransferParallel(b *testing.B) {
	ts, sizes := benchRoot(b)
	for _, file := range []string{"undionly.kpxe", "ipxe.efi"} {
		b.Run(file, func(b *testing.B) {
			b.SetBytes(int64(sizes[file]))
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				c := benchClient(b, ts.port, 1468)
				for pb.Next() {
					if err := download(c, file, sizes[file]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpen: the per-request path resolution and open, no network.
func BenchmarkOpen(b *testing.B) {
	r := makeRoot(b)
	tr := newTree(snapshot(r.dir), quietLogger())
	for _, name := range []string{"ipxe.efi", exactFile} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				f, _, err := tr.open(name)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}
