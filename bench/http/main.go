// Command httpbench serves one file through bootsvc/httpboot, as
// /image/52:54:00:00:00:01, for bench/http/run.sh to compare with nginx
// (gitboot serve is not needed for that). Not part of the gitboot binary.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// MAC is the node the file is served for.
const MAC = "52:54:00:00:00:01"

func main() {
	file := flag.String("file", "", "the file to serve as the node's image")
	listen := flag.String("listen", "127.0.0.1:19873", "address to listen on (loopback)")
	flag.Parse()
	if err := run(*file, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(1)
	}
}

func run(file, listen string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	srv := bootsvc.Server{Name: "bench", Address: ap.Addr(), HTTPPort: int(ap.Port())}
	node := bootsvc.Node{Name: "bench1", MAC: MAC, IP: ap.Addr(), Artifacts: bootsvc.Artifacts{
		Image: bootsvc.Artifact{Path: file, Size: size, Name: "image.img.gz", Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))},
	}}
	hb := httpboot.New(httpboot.Config{
		Snapshot: bootsvc.NewSnapshot(srv, nil, []bootsvc.Node{node}, "bench"),
		Status:   status.NewMemory(),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("serving %s (%d bytes) at http://%s/image/%s\n", file, size, ln.Addr(), MAC)
	return hb.Serve(ctx, ln)
}
