// Command benchserver runs gitboot's DHCP server (bootsvc/dhcp) on a
// synthetic snapshot of N reserved nodes, for bench/dhcp/run.sh to measure
// with perfdhcp. Node i has MAC base+i and address first+i, so perfdhcp's
// generated clients (-b mac=BASE -R N) are all known nodes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/dhcp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

func run() error {
	iface := flag.String("iface", "", "interface to bind (SO_BINDTODEVICE)")
	addr := flag.String("addr", "10.100.0.1", "server address")
	subnet := flag.String("subnet", "10.100.0.0/16", "network")
	first := flag.String("first", "10.100.1.0", "address of node 0")
	base := flag.String("base-mac", "00:0c:01:02:03:04", "MAC of node 0")
	n := flag.Int("n", 1000, "number of reserved nodes")
	workers := flag.Int("workers", 0, "socket readers (0: GOMAXPROCS)")
	readBuf := flag.Int("read-buffer", 0, "socket receive buffer in bytes (0: dhcp.DefaultReadBuffer; 212992 is the kernel default the peers use)")
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

	hw, err := net.ParseMAC(*base)
	if err != nil {
		return err
	}
	var macInt uint64
	for _, b := range hw {
		macInt = macInt<<8 | uint64(b)
	}
	ip := netip.MustParseAddr(*first)
	nodes := make([]bootsvc.Node, *n)
	for i := range nodes {
		m := macInt + uint64(i)
		mac := net.HardwareAddr{byte(m >> 40), byte(m >> 32), byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
		nodes[i] = bootsvc.Node{Name: fmt.Sprintf("n%04d", i), MAC: mac.String(), IP: ip, Network: "bench"}
		ip = ip.Next()
	}
	srvAddr := netip.MustParseAddr(*addr)
	snap := bootsvc.NewSnapshot(
		bootsvc.Server{Name: "bench", Address: srvAddr, HTTPPort: 9873, DHCPPort: 67, DHCPMode: bootsvc.DHCPAuthoritative},
		[]bootsvc.Network{{Name: "bench", Subnet: netip.MustParsePrefix(*subnet), Gateway: srvAddr,
			DNS: []netip.Addr{srvAddr}, Domain: "bench.local", LeaseTime: time.Hour}},
		nodes, "bench")

	s, err := dhcp.New(dhcp.Config{Workers: *workers, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	s.Update(snap)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	conn, err := dhcp.Listen(ctx, dhcp.ListenConfig{Interface: *iface, Port: dhcp.ServerPort, ReadBuffer: *readBuf})
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(os.Stderr, "benchserver: serving %d nodes on %s\n", *n, *iface)
	err = s.Serve(ctx, conn)
	st := s.Stats()
	fmt.Fprintf(os.Stderr, "benchserver: %+v\n", st)
	return err
}
