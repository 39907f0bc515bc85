package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// phaseNames are the boot's phases in order, each ending at an event seen
// on the VM's tap (tcpdump, kernel timestamps) or on its serial console
// (each chunk's arrival time):
//
//	firmware  power-on until the first DHCP request (SeaBIOS, the NIC's
//	          iPXE ROM starting)
//	dhcp      iPXE's DHCP (and IPv6 router solicitation) until it opens
//	          its first HTTP connection
//	transfer  the iPXE script, the kernel and the initrds (the image is
//	          most of it): until the server's last HTTP data packet
//	          (PSH or FIN) before gitboot's /init starts
//	kernel    the kernel's decompression and boot, and the unpacking of
//	          the initrds into the root file system, until gitboot's
//	          /init prints "gitboot init: starting"
//	init      gitboot's /init (modules, network, hostname, agent) until
//	          systemd prints "Welcome to Debian"
//	systemd   systemd until the marker unit ordered after multi-user.target
//	          prints "GBMULTIUSER target=active"
var phaseNames = []string{"firmware", "dhcp", "transfer", "kernel", "init", "systemd"}

var (
	escRE       = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	multiUserRE = regexp.MustCompile(`GBMULTIUSER target=active`)
	initRE      = regexp.MustCompile(`gitboot init: starting`)
	welcomeRE   = regexp.MustCompile(`Welcome to .*Debian`)
	// kernelSecondsRE is /init's own account of the time since the kernel
	// started (the kernel's uptime clock).
	kernelSecondsRE = regexp.MustCompile(`gitboot init: starting .*; ([0-9.]+) s after the kernel started\)`)
)

// bootResult is one boot's times, in seconds.
type bootResult struct {
	Boot    int                `json:"boot"`
	Seconds float64            `json:"seconds"`
	Phases  map[string]float64 `json:"phases"`
	// UptimeAtInit is the kernel's uptime when /init started, as /init
	// says it (decompression is before the kernel's clock starts).
	UptimeAtInit float64 `json:"uptime_at_init,omitempty"`
	Note         string  `json:"note,omitempty"`
}

func (r bootResult) phaseLine() string {
	var parts []string
	for _, p := range phaseNames {
		if v, ok := r.Phases[p]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", p, v))
		}
	}
	return strings.Join(parts, ", ")
}

// analyse splits a boot that reached multi-user.target into phases.
func analyse(raw []byte, ends []int, stamps []time.Time, pkts []packet, start time.Time) bootResult {
	buf := escRE.ReplaceAllFunc(raw, func(b []byte) []byte { return []byte(strings.Repeat(" ", len(b))) })
	serial := func(re *regexp.Regexp) (time.Time, bool) {
		loc := re.FindIndex(buf)
		if loc == nil {
			return time.Time{}, false
		}
		return benchenv.At(ends, stamps, loc[1]-1), true
	}
	end, _ := serial(multiUserRE)
	res := bootResult{Seconds: benchenv.Round(end.Sub(start).Seconds()), Phases: map[string]float64{}}
	if m := kernelSecondsRE.FindSubmatch(buf); m != nil {
		res.UptimeAtInit, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	cur := start
	add := func(phase string, t time.Time, ok bool) {
		if ok && !t.Before(cur) && !t.After(end) {
			res.Phases[phase] = benchenv.Round(t.Sub(cur).Seconds())
			cur = t
		}
	}
	first := func(kind string) (time.Time, bool) {
		for _, p := range pkts {
			if p.Kind == kind && p.T.After(cur) {
				return p.T, true
			}
		}
		return time.Time{}, false
	}
	t, ok := first("dhcp-req")
	add("firmware", t, ok)
	t, ok = first("http-syn")
	add("dhcp", t, ok)
	initAt, initOK := serial(initRE)
	if initOK {
		var last time.Time
		for _, p := range pkts {
			if p.Kind == "http-srv" && p.T.After(cur) && p.T.Before(initAt) {
				last = p.T
			}
		}
		add("transfer", last, !last.IsZero())
	}
	add("kernel", initAt, initOK)
	t, ok = serial(welcomeRE)
	add("init", t, ok)
	add("systemd", end, true)
	return res
}

// packet is one captured packet: dhcp-req, http-syn (the client opens a
// connection), http-srv (the server sends data or closes).
type packet = benchenv.Packet

// summary is the JSON line.
type summary struct {
	Date       string     `json:"date"`
	Boots      int        `json:"boots"`
	Image      string     `json:"image"`
	ImageBytes int64      `json:"image_tar_bytes"`
	QEMU       string     `json:"qemu"`
	Pack       packResult `json:"pack"`
	BootMode   string     `json:"boot_mode,omitempty"`
	MemoryMiB  string     `json:"memory_mib"`
	// Compression is the image block's compression ("": gitboot's default).
	Compression string             `json:"compression,omitempty"`
	Median      float64            `json:"median_s"`
	Phases      map[string]float64 `json:"phase_median_s"`
	Failures    int                `json:"failures"`
	Runs        []bootResult       `json:"boots_s"`
}

func (s *summary) finish() {
	var secs []float64
	phases := map[string][]float64{}
	for _, r := range s.Runs {
		if r.Seconds < 0 {
			s.Failures++
			continue
		}
		secs = append(secs, r.Seconds)
		for p, v := range r.Phases {
			phases[p] = append(phases[p], v)
		}
	}
	s.Median = benchenv.Median(secs)
	s.Phases = map[string]float64{}
	for p, v := range phases {
		s.Phases[p] = benchenv.Median(v)
	}
}

func (s *summary) print() {
	fmt.Printf("\nDebian 12 through gitboot, BIOS, median of %d boots (%d failed), seconds (QEMU TCG, -m %s):\n%-10s", s.Boots, s.Failures, memory, "total")
	for _, p := range phaseNames {
		fmt.Printf(" %9s", p)
	}
	fmt.Printf("\n%-10.2f", s.Median)
	for _, p := range phaseNames {
		if v, ok := s.Phases[p]; ok {
			fmt.Printf(" %9.2f", v)
		} else {
			fmt.Printf(" %9s", "-")
		}
	}
	fmt.Printf("\npacking (gitboot apply, empty state): %.2f s, peak RSS %d MB, CPU %.2f s; image tar %d MB; artifacts %v\n",
		s.Pack.Seconds, s.Pack.PeakRSS>>20, s.Pack.CPU, s.ImageBytes>>20, s.Pack.Artifacts)
}
