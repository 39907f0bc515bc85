package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// phaseNames are the boot's phases in order. Each ends at an event seen
// in the packets on the VM's tap (tcpdump, kernel timestamps) or on the
// serial console (each chunk's arrival time):
//
//	firmware       power-on until the first DHCP request: BIOS (SeaBIOS and
//	               the NIC's iPXE ROM, whose first request is already
//	               iPXE's), UEFI (OVMF) until its PXE client's request
//	fw_dhcp        UEFI: OVMF's DHCP until it prints "Station IP address"
//	               (OVMF collects offers for a fixed time)
//	tftp           UEFI: snponly.efi by TFTP, until "NBP file downloaded"
//	ipxe_start     UEFI: iPXE starting, until its first DHCP request
//	dhcp           iPXE's DHCP (and its IPv6 router solicitation) until it
//	               opens its first HTTP connection
//	http           the iPXE script, kernel and initrds: until the server's
//	               last HTTP packet before gitboot's /init started
//	kernel         iPXE handing over, the kernel's decompression, boot and
//	               initrd unpacking, until gitboot's /init prints
//	               "gitboot init: starting"
//	init           gitboot's /init (modules, network, hostname, agent)
//	               until the image's /sbin/init prints the marker
//
// (The kernel's own uptime is not used to split "kernel": under TCG on a
// loaded machine it was seen to count from well before the kernel ran.)
var phaseNames = []string{"firmware", "fw_dhcp", "tftp", "ipxe_start", "dhcp", "http", "kernel", "init"}

// firmwarePhases are out of gitboot's reach: the firmware's own time, its
// DHCP offer collection, and iPXE's start.
var firmwarePhases = map[string]bool{"firmware": true, "fw_dhcp": true, "ipxe_start": true}

var (
	escRE       = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	stationRE   = regexp.MustCompile(`Station IP address`)
	nbpRE       = regexp.MustCompile(`NBP file downloaded`)
	markerRE    = regexp.MustCompile(marker + ` ([0-9]+\.[0-9]+)`)
	initRE      = regexp.MustCompile(`gitboot init: starting`)
	badScriptRE = regexp.MustCompile(`gitboot: (downloading \S+ failed|boot failed|unknown MAC)`)
)

// bootResult is one boot's times, in seconds from power-on.
type bootResult struct {
	Target  string             `json:"target"`
	Mode    string             `json:"mode"`
	Boot    int                `json:"boot"`
	Seconds float64            `json:"seconds"`
	Phases  map[string]float64 `json:"phases"`
	// DHCPAnswerMS is the mean time from a DHCP request to the server's
	// reply, in milliseconds, as the tap saw them.
	DHCPAnswerMS float64 `json:"dhcp_answer_ms"`
	// HTTPPackets counts the server's HTTP packets before gitboot's /init
	// started (script, kernel, initrds): the same bytes in fewer, fuller
	// segments cost the guest's iPXE less.
	HTTPPackets int    `json:"http_packets"`
	Note        string `json:"note,omitempty"`
}

func (r bootResult) phaseLine() string {
	var b strings.Builder
	for _, p := range phaseNames {
		if v, ok := r.Phases[p]; ok {
			fmt.Fprintf(&b, " %s %.2f", p, v)
		}
	}
	fmt.Fprintf(&b, " (DHCP answers %.1f ms, %d HTTP packets)", r.DHCPAnswerMS, r.HTTPPackets)
	return strings.TrimSpace(b.String())
}

// marked finds the marker line in the console output: when it arrived and
// the kernel's uptime it states.
func marked(re *regexp.Regexp, raw []byte, ends []int, stamps []time.Time) (t time.Time, uptime float64, ok bool) {
	m := re.FindSubmatchIndex(raw)
	if m == nil {
		return t, 0, false
	}
	uptime, err := strconv.ParseFloat(string(raw[m[2]:m[3]]), 64)
	if err != nil {
		return t, 0, false
	}
	return benchenv.At(ends, stamps, m[1]-1), uptime, true
}

// analyse splits a boot that reached the marker into phases.
func analyse(marker *regexp.Regexp, raw []byte, ends []int, stamps []time.Time, pkts []packet, start time.Time, mode string) bootResult {
	buf := escRE.ReplaceAllFunc(raw, func(b []byte) []byte { return []byte(strings.Repeat(" ", len(b))) })
	mt, _, _ := marked(marker, raw, ends, stamps)
	res := bootResult{Seconds: benchenv.Round(mt.Sub(start).Seconds()), Phases: map[string]float64{}}
	type event struct {
		phase string
		t     time.Time
	}
	var evs []event
	cur := start
	add := func(phase string, t time.Time, ok bool) {
		if ok && !t.Before(cur) && t.Before(mt) {
			evs = append(evs, event{phase, t})
			cur = t
		}
	}
	serial := func(re *regexp.Regexp) (time.Time, bool) {
		loc := re.FindIndex(buf)
		if loc == nil {
			return time.Time{}, false
		}
		return benchenv.At(ends, stamps, loc[1]-1), true
	}
	t, ok := firstPacket(pkts, "dhcp-req", start, mt)
	add("firmware", t, ok)
	if mode == "uefi" {
		t, ok = serial(stationRE)
		add("fw_dhcp", t, ok)
		t, ok = serial(nbpRE)
		add("tftp", t, ok)
		t, ok = firstPacket(pkts, "dhcp-req", cur, mt)
		add("ipxe_start", t, ok)
	}
	t, ok = firstPacket(pkts, "http-syn", cur, mt)
	add("dhcp", t, ok)
	initStart, initOK := serial(initRE)
	if initOK {
		for _, p := range pkts {
			if p.Kind == "http-srv" && p.T.Before(initStart) {
				res.HTTPPackets++
			}
		}
		t, ok = lastPacket(pkts, "http-srv", cur, initStart)
		add("http", t, ok)
	}
	add("kernel", initStart, initOK)
	for _, e := range evs {
		res.Phases[e.phase] = benchenv.Round(e.t.Sub(start).Seconds())
		start = e.t
	}
	res.Phases["init"] = benchenv.Round(mt.Sub(start).Seconds())
	res.DHCPAnswerMS = dhcpAnswerMS(pkts)
	if bad := badScriptRE.Find(buf); bad != nil {
		res.Note = string(bad) // a retry happened: still counted, but said
	}
	return res
}

// firstPacket returns the time of the first packet of this kind strictly
// between after and before.
func firstPacket(pkts []packet, kind string, after, before time.Time) (time.Time, bool) {
	for _, p := range pkts {
		if p.Kind == kind && p.T.After(after) && p.T.Before(before) {
			return p.T, true
		}
	}
	return time.Time{}, false
}

// lastPacket returns the time of the last packet of this kind strictly
// between after and before.
func lastPacket(pkts []packet, kind string, after, before time.Time) (time.Time, bool) {
	var t time.Time
	ok := false
	for _, p := range pkts {
		if p.Kind == kind && p.T.After(after) && p.T.Before(before) {
			t, ok = p.T, true
		}
	}
	return t, ok
}

// dhcpAnswerMS is the mean time from each DHCP request to the next reply
// (before another request), in milliseconds; 0 when no request was
// answered.
func dhcpAnswerMS(pkts []packet) float64 {
	var sum time.Duration
	n := 0
	for i, p := range pkts {
		if p.Kind != "dhcp-req" {
			continue
		}
		for _, q := range pkts[i+1:] {
			if q.Kind == "dhcp-reply" {
				sum += q.T.Sub(p.T)
				n++
				break
			}
			if q.Kind == "dhcp-req" {
				break
			}
		}
	}
	if n == 0 {
		return 0
	}
	return benchenv.Round(float64(sum.Microseconds()) / float64(n) / 1000)
}

// summary is the JSON line: medians keyed "TARGET/MODE", ratios keyed by
// mode, phase medians keyed "TARGET/MODE" then phase.
type summary struct {
	Date    string   `json:"date"`
	Boots   int      `json:"boots"`
	Modes   []string `json:"modes"`
	Targets []string `json:"targets"`
	Kernel  string   `json:"kernel"`
	// Image is what the nodes booted (-image).
	Image string `json:"image"`
	QEMU  string `json:"qemu"`
	Peers string `json:"peers,omitempty"`
	// Packing is what the reference served (-reference-packing).
	Packing string                        `json:"reference_packing"`
	Sizes   map[string]int64              `json:"artifact_bytes"`
	Medians map[string]float64            `json:"median_s"`
	Ratio   map[string]float64            `json:"ratio"`
	Phases  map[string]map[string]float64 `json:"phase_median_s"`
	// Firmware is the median of the phases out of gitboot's reach
	// (firmwarePhases), per TARGET/MODE.
	Firmware map[string]float64 `json:"firmware_median_s"`
	// Failures counts, per TARGET/MODE, boots that did not reach init
	// (in boots_s with seconds -1 and a note); medians leave them out.
	Failures map[string]int `json:"failures"`
	Runs     []bootResult   `json:"boots_s"`
}

func (s *summary) add(all []bootResult) {
	s.Runs = all
	s.Firmware = map[string]float64{}
	s.Failures = map[string]int{}
	for _, tg := range s.Targets {
		for _, mode := range s.Modes {
			key := tg + "/" + mode
			var secs, fw []float64
			phases := map[string][]float64{}
			for _, r := range all {
				if r.Target != tg || r.Mode != mode {
					continue
				}
				if r.Seconds < 0 {
					s.Failures[key]++
					continue
				}
				secs = append(secs, r.Seconds)
				f := 0.0
				for p, v := range r.Phases {
					phases[p] = append(phases[p], v)
					if firmwarePhases[p] {
						f += v
					}
				}
				fw = append(fw, f)
			}
			s.Medians[key] = benchenv.Median(secs)
			s.Firmware[key] = benchenv.Median(fw)
			s.Phases[key] = map[string]float64{}
			for p, v := range phases {
				s.Phases[key][p] = benchenv.Median(v)
			}
		}
	}
	for _, mode := range s.Modes {
		g, r := s.Medians["gitboot/"+mode], s.Medians["reference/"+mode]
		if g > 0 && r > 0 {
			s.Ratio[mode] = float64(int64(g/r*1000+0.5)) / 1000
		}
	}
}

// print writes the table: per target and mode the median and its phases.
func (s *summary) print() {
	fmt.Printf("\nmedian of %d boots, seconds from power-on (QEMU TCG):\n%-18s %7s %9s", s.Boots, "target/mode", "init", "firmware*")
	for _, p := range phaseNames {
		fmt.Printf(" %8s", p)
	}
	fmt.Println()
	for _, tg := range s.Targets {
		for _, mode := range s.Modes {
			key := tg + "/" + mode
			fmt.Printf("%-18s %7.2f %9.2f", key, s.Medians[key], s.Firmware[key])
			if n := s.Failures[key]; n > 0 {
				defer fmt.Printf("%s: %d boot(s) failed, left out of the medians\n", key, n)
			}
			for _, p := range phaseNames {
				if v, ok := s.Phases[key][p]; ok {
					fmt.Printf(" %8.2f", v)
				} else {
					fmt.Printf(" %8s", "-")
				}
			}
			fmt.Println()
		}
	}
	fmt.Println("* firmware: firmware + fw_dhcp + ipxe_start, out of gitboot's reach")
	for _, mode := range s.Modes {
		if r, ok := s.Ratio[mode]; ok {
			fmt.Printf("ratio gitboot/reference %s: %.3f\n", mode, r)
		}
	}
	fmt.Printf("artifact bytes: %v (the reference's one initrd packed %s)\n", s.Sizes, s.Packing)
}
