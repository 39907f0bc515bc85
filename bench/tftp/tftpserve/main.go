// Command tftpserve serves one directory with gitboot's TFTP package
// (bootsvc/tftp), for the benchmark in bench/tftp until `gitboot serve`
// runs the boot services. It is not part of the product.
//
//	tftpserve -dir /usr/lib/ipxe -addr 127.0.0.1:6969
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/tftp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tftpserve:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", tftp.DefaultIPXEDir, "directory to serve (the TFTP root)")
	addr := flag.String("addr", "127.0.0.1:6969", "UDP address to listen on")
	quiet := flag.Bool("quiet", true, "log only warnings")
	perClient := flag.Int("max-per-client", 1024, "concurrent transfers per client address (the benchmark's clients all share one address)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		return fmt.Errorf("parsing -addr: %w", err)
	}
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv := tftp.New(tftp.Config{Log: log, MaxPerClient: *perClient})
	srv.Update(bootsvc.NewSnapshot(bootsvc.Server{IPXEDir: *dir, TFTPPort: int(ap.Port())}, nil, nil, ""))
	conn, err := tftp.Listen(ap)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Serve(ctx, conn)
}
