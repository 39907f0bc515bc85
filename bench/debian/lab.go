package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// newLab makes the run's lab: namespace lan (a bridge and the VM's tap)
// and namespace srv (the server at serverIP/24 and fd98:7::1/64, for
// gitboot's router advertisements, on a veth into the bridge).
func newLab() (*benchenv.Lab, error) {
	return benchenv.NewLab(benchenv.LabNames{Bench: "debian", NS: "gbdeb", Link: "bd", ID: fmt.Sprintf("%d", os.Getpid()%100000)}, serverIP)
}

// captureFilter keeps DHCP, and of the HTTP packets only those with SYN,
// FIN or PSH (not every segment of ~500 MB).
const captureFilter = "udp port 67 or udp port 68 or (tcp port 9873 and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-push) != 0))"

// boot powers on the BIOS node in l (as test/e2e's Debian test: TCG, one
// CPU, -m 2560, the NIC's iPXE ROM), waits for multi-user.target on its
// console and returns the boot's times. Its serial log and packets are
// kept in dir.
func boot(ctx context.Context, l *benchenv.Lab, dir string, i int, deadline time.Duration) (bootResult, error) {
	run, err := l.Boot(ctx, benchenv.VMBoot{
		Args: []string{"-accel", "tcg", "-smp", "1", "-m", memory, "-display", "none", "-monitor", "none", "-serial", "stdio",
			"-machine", "pc", "-no-reboot", "-boot", "n",
			"-netdev", "tap,id=n0,ifname=" + l.Tap + ",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,mac=" + nodeMAC},
		Filter:   captureFilter,
		Keep:     filepath.Join(dir, fmt.Sprintf("bios-%d", i+1)),
		Done:     func(buf []byte, _ []int, _ []time.Time) bool { return multiUserRE.Match(buf) },
		Every:    100 * time.Millisecond,
		Deadline: deadline,
		Exited:   "before multi-user.target",
		Missing:  "no multi-user.target on the console",
	})
	if err != nil {
		return bootResult{}, err
	}
	return analyse(run.Console, run.Ends, run.Stamps, run.Packets, run.Start), nil
}
