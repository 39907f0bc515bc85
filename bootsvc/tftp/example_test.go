package tftp_test

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/bootsvc/tftp"
)

// How the daemon wires the TFTP service: one Server, a snapshot per applied
// commit, a socket bound from the server block's tftp_port.
func Example() {
	snap := bootsvc.NewSnapshot(bootsvc.Server{Name: "head", TFTPPort: 69, IPXEDir: "/usr/lib/ipxe"}, nil, nil, "")
	srv := tftp.New(tftp.Config{Recorder: status.Discard{}, Log: slog.Default()})
	srv.Update(snap) // again for every new snapshot; safe while serving
	conn, err := tftp.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(snap.Server.TFTPPort)))
	if err != nil {
		slog.Error("starting TFTP", "err", err) // names the port and tftp_port
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the daemon cancels on shutdown
	_ = srv.Serve(ctx, conn)
}
