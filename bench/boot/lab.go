package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// lab is one target's network: namespace lan (a bridge, the VM's tap) and
// namespace srv (the server at serverIP/24, IPv6 fd98:7::1/64 for router
// advertisements, on a veth into the bridge).
type lab struct {
	*benchenv.Lab
}

// newLab makes a lab whose names hold tag and this process's id.
func newLab(tag string) (*lab, error) {
	l, err := benchenv.NewLab(benchenv.LabNames{Bench: "boot", NS: "gbboot", Link: "bb", ID: fmt.Sprintf("%d%s", os.Getpid()%100000, tag)}, serverIP)
	if err != nil {
		return nil, err
	}
	return &lab{l}, nil
}

// proc is a process started in a namespace; its output goes to a log
// file, each line prefixed with the time it arrived.
type proc struct {
	*benchenv.Proc
	log string
}

// start runs name in the server namespace, its output to log.
func (l *lab) start(log, name string, args ...string) (*proc, error) {
	p, err := l.Start(log, name, args...)
	if err != nil {
		return nil, err
	}
	return &proc{Proc: p, log: log}, nil
}

func (p *proc) stop() { p.Stop(syscall.SIGTERM, 5*time.Second) }

// tail is the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	return string(benchenv.Tail(b, 3000))
}

// qemuArgs are the QEMU arguments of mode, as test/e2e boots them
// (TCG, one CPU, virtio-net on the lab's tap; BIOS through the NIC's iPXE
// ROM, UEFI through OVMF's own PXE client and snponly.efi by TFTP).
func (l *lab) qemuArgs(dir string, img *bootImage, mode string, n node) ([]string, error) {
	args := []string{"-accel", "tcg", "-smp", "1", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-netdev", "tap,id=n0,ifname=" + l.Tap + ",script=no,downscript=no"}
	if mode == "bios" {
		return append(args, "-machine", "pc", "-m", img.memBIOS, "-no-reboot", "-boot", "n",
			"-device", "virtio-net-pci,netdev=n0,mac="+n.mac), nil
	}
	vars := filepath.Join(dir, "OVMF_VARS-"+l.Tap+".fd")
	if err := benchenv.Run("cp", ovmfVars, vars); err != nil {
		return nil, err
	}
	return append(args, "-machine", "q35", "-m", img.memUEFI,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n",
		"-device", "virtio-net-pci,netdev=n0,mac="+n.mac+",romfile=,bootindex=0"), nil
}

// captureFilter keeps DHCP and HTTP (port 9873) packets.
const captureFilter = "udp port 67 or udp port 68 or tcp port 9873"

// boot powers on mode's node in this lab, waits for the marker and
// returns the boot's times. The serial log and packets are kept in dir.
func (l *lab) boot(ctx context.Context, dir string, img *bootImage, mode, target string, i int, deadline time.Duration) (bootResult, error) {
	args, err := l.qemuArgs(dir, img, mode, nodes[mode])
	if err != nil {
		return bootResult{}, err
	}
	run, err := l.Boot(ctx, benchenv.VMBoot{
		Args:   args,
		Filter: img.filter,
		Keep:   filepath.Join(dir, fmt.Sprintf("%s-%s-%d", target, mode, i+1)),
		Done: func(buf []byte, ends []int, stamps []time.Time) bool {
			_, _, ok := marked(img.marker, buf, ends, stamps)
			return ok
		},
		Every:    50 * time.Millisecond,
		Deadline: deadline,
		Exited:   "without the marker " + img.marker.String(),
		Missing:  "no " + img.marker.String() + " line on the serial console",
	})
	if err != nil {
		return bootResult{}, err
	}
	res := analyse(img.marker, run.Console, run.Ends, run.Stamps, run.Packets, run.Start, mode)
	if img.large {
		res.HTTPPackets = 0 // the capture keeps only SYN, FIN and PSH
	}
	res.Target, res.Mode, res.Boot = target, mode, i+1
	return res, nil
}

// packet is one packet tcpdump saw on a VM's tap for one boot (DHCP and
// HTTP, port 9873), with the kernel's timestamp, the same clock as the
// power-on time. It is what the server sees, for gitboot and the
// reference alike, without relying on either's log.
type packet = benchenv.Packet
