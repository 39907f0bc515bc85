package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reference is built from gitboot's real script format: the golden
// file bootsvc/httpboot's tests keep up to date.
func TestParseScriptGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "bootsvc", "httpboot", "testdata", "extra-initrds.ipxe"))
	if err != nil {
		t.Fatal(err)
	}
	kernel, args, initrds, err := parseScript(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kernel, "http://10.99.0.1:9873/kernel/52:54:00:00:00:02/") {
		t.Errorf("kernel URL %q", kernel)
	}
	var names []string
	for _, in := range initrds {
		names = append(names, in.name)
		route := strings.TrimRight(in.name, "01")
		if route == "runtime" {
			route = "runtime-initrd" // non-secure: the overlay as a file in an initrd
		}
		if !strings.Contains(in.url, "/"+route+"/") {
			t.Errorf("initrd %s has URL %s", in.name, in.url)
		}
	}
	if got, want := strings.Join(names, " "), "image extra0 extra1 system runtime"; got != want {
		t.Errorf("initrds %q, want %q (gitboot's unpack order)", got, want)
	}
	got := strings.Join(args, " ")
	if want := "gitboot.node=c002 gitboot.server=http://10.99.0.1:9873 gitboot.mac=52:54:00:00:00:02 gitboot.interval=60s gitboot.ip=10.99.0.12/24"; got != want {
		t.Errorf("kernel args %q, want %q (without initrd= and the goto)", got, want)
	}
	if _, _, _, err := parseScript("#!ipxe\necho gitboot: unknown MAC\nreboot\n"); err == nil {
		t.Error("a script without kernel and initrd lines parsed")
	}
}

// A UEFI boot: the phases follow the events and add up to the total.
func TestAnalyseUEFI(t *testing.T) {
	t0 := time.Unix(1764470000, 0)
	s := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	chunks := []struct {
		at   float64
		text string
	}{
		{1, "\x1b[2J>>Start PXE over IPv4.\r\n"},
		{6, "  Station IP address is 10.99.0.12\r\n"},
		{6.5, "  NBP file downloaded successfully.\r\n"},
		{40, "gitboot init: starting\n"},
		{41, marker + " 11.00\n"},
	}
	var (
		buf    []byte
		ends   []int
		stamps []time.Time
	)
	for _, ch := range chunks {
		buf = append(buf, ch.text...)
		ends = append(ends, len(buf))
		stamps = append(stamps, s(ch.at))
	}
	pkts := []packet{
		{T: s(2), Kind: "dhcp-req"}, {T: s(2.01), Kind: "dhcp-reply"}, // OVMF
		{T: s(9), Kind: "dhcp-req"}, {T: s(9.03), Kind: "dhcp-reply"}, // iPXE
		{T: s(10), Kind: "http-syn"}, {T: s(25), Kind: "http-srv"},
		{T: s(40.5), Kind: "http-srv"}, // /init talking to the server
	}
	r := analyse(markerRE, buf, ends, stamps, pkts, t0, "uefi")
	want := map[string]float64{"firmware": 2, "fw_dhcp": 4, "tftp": 0.5, "ipxe_start": 2.5, "dhcp": 1, "http": 15, "kernel": 15, "init": 1}
	sum := 0.0
	for p, v := range want {
		if r.Phases[p] != v {
			t.Errorf("phase %s: %.2f s, want %.2f (all: %v)", p, r.Phases[p], v, r.Phases)
		}
		sum += r.Phases[p]
	}
	if r.Seconds != 41 || sum != 41 {
		t.Errorf("total %.2f s, phases add up to %.2f; want 41", r.Seconds, sum)
	}
	if r.HTTPPackets != 1 {
		t.Errorf("%d HTTP packets before /init, want 1 (the one at 40.5 s is /init's)", r.HTTPPackets)
	}
	if r.DHCPAnswerMS != 20 {
		t.Errorf("DHCP answer %.2f ms, want 20 (mean of 10 and 30)", r.DHCPAnswerMS)
	}
}

// A failed boot is counted and left out of the median and the ratio.
func TestSummaryFailedBoot(t *testing.T) {
	s := &summary{Targets: []string{"gitboot", "reference"}, Modes: []string{"bios"}, Medians: map[string]float64{},
		Ratio: map[string]float64{}, Phases: map[string]map[string]float64{}}
	s.add([]bootResult{
		{Target: "gitboot", Mode: "bios", Seconds: 30, Phases: map[string]float64{"firmware": 4}},
		{Target: "gitboot", Mode: "bios", Seconds: 40, Phases: map[string]float64{"firmware": 6}},
		{Target: "reference", Mode: "bios", Seconds: 40, Phases: map[string]float64{"firmware": 5}},
		{Target: "reference", Mode: "bios", Seconds: -1, Note: "failed: kernel panic"},
	})
	if s.Medians["gitboot/bios"] != 35 || s.Medians["reference/bios"] != 40 {
		t.Errorf("medians %v, want gitboot 35 and reference 40", s.Medians)
	}
	if s.Ratio["bios"] != 0.875 {
		t.Errorf("ratio %v, want 0.875", s.Ratio["bios"])
	}
	if s.Failures["reference/bios"] != 1 || s.Failures["gitboot/bios"] != 0 {
		t.Errorf("failures %v, want reference/bios 1", s.Failures)
	}
	if s.Firmware["gitboot/bios"] != 5 {
		t.Errorf("firmware median %v, want 5", s.Firmware["gitboot/bios"])
	}
}

// TestExecMarker: a large image's boot ends at gitboot's /init's exec
// line, which the /init script prints with its uptime.
func TestExecMarker(t *testing.T) {
	line := []byte("gitboot init: hostname d1\r\ngitboot init: exec /sbin/init (18.70 s after the kernel started)\r\n")
	t0 := time.Unix(100, 0)
	at, up, ok := marked(execMarkerRE, line, []int{len(line)}, []time.Time{t0})
	if !ok || up != 18.70 || !at.Equal(t0) {
		t.Fatalf("marked = %v %v %v, want %v 18.70 true", at, up, ok, t0)
	}
	if _, _, ok := marked(execMarkerRE, []byte("gitboot init: exec /sbin/init\n"), []int{30}, []time.Time{t0}); ok {
		t.Fatal("a line without the uptime matched")
	}
	// The /init script prints it so.
	src, err := os.ReadFile("../../reconcile/artifact/builtin/init/init")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(`say "exec $TARGET${up:+ (${up} s after the kernel started)}"`)) {
		t.Fatal("the /init script's exec line changed: update execMarkerRE")
	}
}
