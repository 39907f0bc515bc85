package httpboot

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// TestRealIPXE boots a QEMU VM whose NIC ROM is iPXE, with QEMU's user-mode
// network restricted to one forward (guest 10.0.2.100:80 -> `busybox nc` to
// our loopback listener, one per connection), so nothing leaves the VM but
// connections to us. The "kernel" it is served is
// ipxe.lkrn (iPXE in Linux kernel format, from the ipxe package): real iPXE
// fetches our script (percent-encoding the MAC's colons), runs it, and
// downloads the kernel and the three initrds in order; the status shows
// every stage. (It then boots the lkrn, which is no Linux: booting a real
// kernel belongs to the end-to-end tests.)
func TestRealIPXE(t *testing.T) {
	needTools(t, "qemu-system-x86_64", "cpio", "gzip", "busybox")
	// QEMU's default virtio NIC ROM is iPXE (package ipxe-qemu).
	lkrn, rom := "/boot/ipxe.lkrn", "/usr/lib/ipxe/qemu/efi-virtio.rom"
	for _, f := range []string{lkrn, rom} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (packages ipxe, ipxe-qemu)", f)
			}
			t.Skipf("%s missing", f)
		}
	}
	if testing.Short() {
		t.Skip("boots a VM")
	}
	dir := t.TempDir()
	const mac = "52:54:00:12:34:56"
	art := bootsvc.Artifacts{
		Kernel:  fileArtifact(t, lkrn, "ipxe.lkrn"),
		Image:   makeCPIO(t, dir, "image.img.gz", map[string]string{"sbin/init": "#!/bin/sh\n"}),
		System:  makeCPIO(t, dir, "system.img.gz", map[string]string{"init": "#!/bin/sh\n"}),
		Runtime: makeCPIO(t, dir, "runtime.img.gz", map[string]string{"etc/hosts": "127.0.0.1 localhost\n"}),
	}
	// What the guest sees: the server at 10.0.2.100:80.
	srv := bootsvc.Server{Name: "head", Address: netip.MustParseAddr("10.0.2.100"), HTTPPort: 80, RuntimeInterval: time.Minute}
	// The guest's requests reach the server through guestfwd's nc, from
	// 127.0.0.1: that is the address they count from (ownaddr.go).
	node := bootsvc.Node{Name: "vm1", MAC: mac, IP: netip.MustParseAddr("127.0.0.1"), KernelArgs: []string{"console=ttyS0"}, Artifacts: art}
	store := status.NewMemory()
	rec := &orderRecorder{Store: store, seen: make(chan status.Stage, 64)}
	h := New(Config{Snapshot: bootsvc.NewSnapshot(srv, nil, []bootsvc.Node{node}, "qemu"), Status: store, Recorder: rec, Logger: discardLogger()})
	ln := listen(t)
	start(t, h, ln)
	port := ln.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serial := filepath.Join(dir, "serial.log")
	netdev := "user,id=n0,restrict=on,ipv6=off,net=10.0.2.0/24," +
		"bootfile=http://10.0.2.100/ipxe/" + mac + "," +
		"guestfwd=tcp:10.0.2.100:80-cmd:busybox nc 127.0.0.1 " + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nodefaults",
		"-display", "none", "-serial", "file:"+serial, "-boot", "n",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,bootindex=0,mac="+mac)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	want := []status.Stage{status.StageIPXE, status.StageKernel, status.StageImage, status.StageSystemOverlay,
		status.StageRuntimeOverlay}
	var got []status.Stage
	for len(got) < len(want) {
		select {
		case st := <-rec.seen:
			got = append(got, st)
		case <-ctx.Done():
			log, _ := os.ReadFile(serial)
			t.Fatalf("stages %v, want %v; serial:\n%s", got, want, log)
		}
	}
	for i := range want {
		if got[i] != want[i] {
			log, _ := os.ReadFile(serial)
			t.Fatalf("stages %v, want %v; serial:\n%s", got, want, log)
		}
	}
}

// orderRecorder passes events to the store and reports vm1's stages.
type orderRecorder struct {
	*status.Store
	seen chan status.Stage
}

func (r *orderRecorder) Record(ev status.Event) {
	r.Store.Record(ev)
	if ev.Node == "vm1" {
		select {
		case r.seen <- ev.Stage:
		default:
		}
	}
}
