package dhcp

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
	"github.com/gitboot/gitboot/internal/netnstest"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// TestDecisionBoot: only boot firmware and iPXE are boot clients; the
// DHCP clients of operating systems are not.
func TestDecisionBoot(t *testing.T) {
	D, R := dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest
	for _, tc := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		boot bool
	}{
		{"pxe_bios", req(D, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)), true},
		{"pxe_uefi_request", req(R, macC001, withArch(iana.EFI_X86_64), withVendor(pxeUEFI), withRequested("10.99.0.11")), true},
		{"http_boot", req(D, macC001, withArch(iana.EFI_X86_64_HTTP), withVendor("HTTPClient:Arch:00016:UNDI:003001")), true},
		{"ipxe_user_class", req(R, macC001, withIPXE(), withRequested("10.99.0.11")), true},
		{"no_class", req(D, macC001), false},
		{"udhcpc_renew", req(R, macC001, withVendor("udhcp 1.36.1"), withCiaddr("10.99.0.11")), false},
		{"dhcpcd", req(R, macC001, withVendor("dhcpcd-9.4.1:Linux-6.1.0:x86_64:GenuineIntel"), withRequested("10.99.0.11")), false},
		{"windows", req(D, macC001, withVendor("MSFT 5.0")), false},
		{"unknown_mac_pxe", req(D, macOther, withVendor(pxeBIOS)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(testSnapshot(snapOpts{}), tc.req, Meta{LocalPort: ServerPort, Now: t0}, nil)
			if d.Boot != tc.boot {
				t.Fatalf("Boot = %v, want %v (%s)", d.Boot, tc.boot, d.Reason)
			}
		})
	}
}

// TestBootedNodeDHCPKeepsStage: a node at RUNTIME_OVERLAY whose own OS
// renews its lease (answered, NAKed or unanswered) stays at
// RUNTIME_OVERLAY with its SENT, and LASTSEEN moves; a PXE client's DHCP
// starts a new boot.
func TestBootedNodeDHCPKeepsStage(t *testing.T) {
	for _, mode := range []string{bootsvc.DHCPAuthoritative, bootsvc.DHCPProxy} {
		t.Run(mode, func(t *testing.T) {
			now := t0
			store, err := status.Open(status.Config{Now: func() time.Time { return now }})
			mustNoErr(t, err)
			s, err := New(Config{Recorder: store, Logger: discard()})
			mustNoErr(t, err)
			s.Update(testSnapshot(snapOpts{mode: mode}))
			booted := func() {
				store.Record(status.Event{Node: "c001", MAC: macC001, Stage: status.StageRuntimeOverlay, Sent: "runtime.img.gz", Time: now})
			}
			booted()
			R := dhcpv4.MessageTypeRequest
			for _, tc := range []struct {
				name string
				req  *dhcpv4.DHCPv4
			}{
				{"renew", req(R, macC001, withVendor("udhcp 1.36.1"), withCiaddr("10.99.0.11"))},
				{"init_reboot", req(R, macC001, withRequested("10.99.0.11"))},
				{"discover", req(dhcpv4.MessageTypeDiscover, macC001)},
				{"wrong_address_nak", req(R, macC001, withRequested("10.99.0.77"))},
				{"other_server", req(R, macC001, withRequested("10.99.0.11"), withServerID("10.99.0.254"))},
				{"release", req(dhcpv4.MessageTypeRelease, macC001, withCiaddr("10.99.0.11"))},
			} {
				now = now.Add(time.Minute)
				pkt := tc.req.ToBytes()
				s.Handle(pkt, Meta{LocalPort: ServerPort, Now: now})
				r, _ := store.Node("c001")
				if r.Stage != status.StageRuntimeOverlay || r.Sent != "runtime.img.gz" || !r.LastSeen.Equal(now) {
					t.Fatalf("%s: %+v, want RUNTIME_OVERLAY runtime.img.gz seen %v", tc.name, r, now)
				}
			}
			now = now.Add(time.Minute)
			s.Handle(req(dhcpv4.MessageTypeDiscover, macC001, withArch(iana.INTEL_X86PC), withVendor(pxeBIOS)).ToBytes(),
				Meta{LocalPort: ServerPort, Now: now})
			if r, _ := store.Node("c001"); r.Stage != status.StageDHCP || !r.LastSeen.Equal(now) {
				t.Fatalf("PXE discover: %+v", r)
			}
			booted()
			now = now.Add(time.Minute)
			s.Handle(req(dhcpv4.MessageTypeDiscover, macC001, withIPXE()).ToBytes(), Meta{LocalPort: ServerPort, Now: now})
			if r, _ := store.Node("c001"); r.Stage != status.StageDHCP {
				t.Fatalf("iPXE discover: %+v", r)
			}
		})
	}
}

// replay feeds the events the lab recorded into a status store, after
// the node's record says rec.
func (l *lab) replay(rec status.Event) *status.Store {
	store := status.NewMemory()
	store.Record(rec)
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	for _, e := range l.rec.events {
		store.Record(e)
	}
	return store
}

// waitFile waits for path to appear.
func waitFile(t *testing.T, path string, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear:\n%s", filepath.Base(path), out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWireBootedNodeUdhcpc: after a node reached RUNTIME_OVERLAY, its own
// busybox udhcpc (as in a node's image) gets a lease, configures it and
// renews it (SIGUSR1: a unicast REQUEST from its address) over real
// sockets: the stage stays RUNTIME_OVERLAY and LASTSEEN follows. The same
// MAC as a PXE client then starts a new boot.
func TestWireBootedNodeUdhcpc(t *testing.T) {
	netnstest.RequireCommands(t, "udhcpc", "ip")
	l := newLab(t, snapOpts{})
	booted := status.Event{Node: "c002", MAC: macC002, Stage: status.StageRuntimeOverlay, Sent: "runtime.img.gz",
		Time: time.Now().Add(-time.Hour)}
	ns, ifname := l.client(macC002)
	dir := t.TempDir()
	// The hook configures the address (so that the renewal can go out
	// unicast from it) and dumps the environment per reason.
	hook := filepath.Join(dir, "hook.sh")
	mustNoErr(t, os.WriteFile(hook, []byte(`#!/bin/sh
case "$1" in bound|renew) ip addr replace "$ip/24" dev "$interface" ;; esac
env | sort > "`+dir+`/.env.$$" && mv "`+dir+`/.env.$$" "`+dir+`/$1.env"
`), 0o755))
	cmd, out := ns.Start(t, "udhcpc", "-f", "-i", ifname, "-s", hook, "-t", "5", "-T", "2")
	waitFile(t, filepath.Join(dir, "bound.env"), out)
	if env := readEnv(t, filepath.Join(dir, "bound.env")); env["ip"] != "10.99.0.12" {
		t.Fatalf("udhcpc lease: %v", env)
	}
	store := l.replay(booted)
	r, _ := store.Node("c002")
	if r.Stage != status.StageRuntimeOverlay || r.Sent != "runtime.img.gz" || time.Since(r.LastSeen) > time.Minute {
		t.Fatalf("after the node's own DHCP: %+v", r)
	}
	seen := r.LastSeen
	time.Sleep(20 * time.Millisecond)
	mustNoErr(t, cmd.Process.Signal(syscall.SIGUSR1))
	waitFile(t, filepath.Join(dir, "renew.env"), out)
	store = l.replay(booted)
	r, _ = store.Node("c002")
	if r.Stage != status.StageRuntimeOverlay || r.Sent != "runtime.img.gz" || !r.LastSeen.After(seen) {
		t.Fatalf("after the renewal: %+v (seen before %v)\n%s", r, seen, out)
	}
	if !strings.Contains(out.String(), "enew") {
		t.Logf("udhcpc output:\n%s", out)
	}

	// The same MAC as a PXE client starts a new boot.
	ns2, if2 := l.client(macC001)
	env := udhcpc(t, ns2, if2, "-V", pxeUEFI, "-x", "93:0007")
	if env == nil || env["boot_file"] != "snponly.efi" {
		t.Fatalf("PXE lease: %v", env)
	}
	store = l.replay(status.Event{Node: "c001", MAC: macC001, Stage: status.StageRuntimeOverlay, Sent: "runtime.img.gz",
		Time: time.Now().Add(-time.Hour)})
	if r, _ := store.Node("c001"); r.Stage != status.StageDHCP {
		t.Fatalf("after a PXE client's DHCP: %+v", r)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
