package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// phaseNames are the boot's phases in order, each ending at an event seen
// on the serial console (its chunk's arrival time):
//
//	firmware       power-on until the first DHCP request: BIOS (SeaBIOS and
//	               the NIC's iPXE ROM) until "Configuring (net0", UEFI
//	               (OVMF) until ">>Start PXE over IPv4"
//	fw_dhcp        UEFI: OVMF's DHCP, until "Station IP address" (OVMF
//	               collects offers for a fixed time)
//	tftp           UEFI: snponly.efi by TFTP, until "NBP file downloaded"
//	ipxe_start     UEFI: iPXE starting, until its "Configuring (net0"
//	dhcp           iPXE's DHCP (and IPv6 router advertisement), until its "ok"
//	script         the iPXE script's download, until its "... ok"
//	download       kernel and initrds, until the last "... ok" before Linux
//	kernel_to_init Linux until the image's /sbin/init prints the marker
//	               (decompression, initrd unpacking, gitboot's /init)
var phaseNames = []string{"firmware", "fw_dhcp", "tftp", "ipxe_start", "dhcp", "script", "download", "kernel_to_init"}

// firmwarePhases are out of gitboot's reach: the firmware's own time and
// its fixed DHCP offer collection, and iPXE's start.
var firmwarePhases = map[string]bool{"firmware": true, "fw_dhcp": true, "ipxe_start": true}

var (
	escRE       = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	configRE    = regexp.MustCompile(`Configuring \(net0`)
	configOkRE  = regexp.MustCompile(`Configuring \(net0[^\n]*?ok`)
	pxeStartRE  = regexp.MustCompile(`Start PXE over IPv4`)
	stationRE   = regexp.MustCompile(`Station IP address`)
	nbpRE       = regexp.MustCompile(`NBP file downloaded`)
	downloadRE  = regexp.MustCompile(`http://\S+\.\.\.[^\n]*?ok`)
	linuxRE     = regexp.MustCompile(`Linux version|` + marker)
	markerRE    = regexp.MustCompile(marker)
	badScriptRE = regexp.MustCompile(`gitboot: (downloading \S+ failed|boot failed|unknown MAC)`)
)

// bootResult is one boot's times, in seconds from power-on.
type bootResult struct {
	Target, Mode string
	Boot         int
	Seconds      float64
	Phases       map[string]float64
	Failed       string `json:",omitempty"`
}

func (r bootResult) phaseLine() string {
	var b strings.Builder
	for _, p := range phaseNames {
		if v, ok := r.Phases[p]; ok {
			fmt.Fprintf(&b, " %s %.2f", p, v)
		}
	}
	return strings.TrimSpace(b.String())
}

// analyse finds the marker in the console output and, when it is there,
// the phase times. Escape sequences are blanked in place so offsets keep.
func analyse(raw []byte, ends []int, stamps []time.Time, start time.Time, mode string) (bootResult, bool) {
	buf := escRE.ReplaceAllFunc(raw, func(b []byte) []byte { return []byte(strings.Repeat(" ", len(b))) })
	m := markerRE.FindIndex(buf)
	if m == nil {
		return bootResult{}, false
	}
	t := func(off int) float64 { return at(ends, stamps, off).Sub(start).Seconds() }
	res := bootResult{Seconds: t(m[1] - 1), Phases: map[string]float64{}}
	type event struct {
		phase string
		off   int
	}
	var evs []event
	from := 0
	find := func(phase string, re *regexp.Regexp, end bool) bool {
		loc := re.FindIndex(buf[from:])
		if loc == nil {
			return false
		}
		off := from + loc[0]
		if end {
			off = from + loc[1] - 1
		}
		evs = append(evs, event{phase, off})
		from = from + loc[1]
		return true
	}
	if mode == "uefi" {
		find("firmware", pxeStartRE, false)
		find("fw_dhcp", stationRE, true)
		find("tftp", nbpRE, true)
		find("ipxe_start", configRE, false)
	} else {
		find("firmware", configRE, false)
	}
	// The last DHCP before the script: iPXE may configure more than once.
	find("dhcp", configOkRE, true)
	if find("script", downloadRE, true) {
		lin := linuxRE.FindIndex(buf[from:])
		limit := len(buf)
		if lin != nil {
			limit = from + lin[0]
		}
		last := -1
		for _, loc := range downloadRE.FindAllIndex(buf[from:limit], -1) {
			last = from + loc[1] - 1
		}
		if last >= 0 {
			evs = append(evs, event{"download", last})
		}
	}
	prev := 0.0
	for _, e := range evs {
		v := t(e.off)
		res.Phases[e.phase] = round(v - prev)
		prev = v
	}
	res.Phases["kernel_to_init"] = round(res.Seconds - prev)
	res.Seconds = round(res.Seconds)
	if bad := badScriptRE.Find(buf); bad != nil {
		res.Failed = string(bad) // a retry happened; still counted, but said
	}
	return res, true
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return round((s[len(s)/2-1] + s[len(s)/2]) / 2)
}

// summary is the JSON line: medians keyed "TARGET/MODE", ratios keyed by
// mode, phase medians keyed "TARGET/MODE" then phase.
type summary struct {
	Date    string                        `json:"date"`
	Boots   int                           `json:"boots"`
	Modes   []string                      `json:"modes"`
	Targets []string                      `json:"targets"`
	Kernel  string                        `json:"kernel"`
	QEMU    string                        `json:"qemu"`
	Peers   string                        `json:"peers,omitempty"`
	Sizes   map[string]int64              `json:"artifact_bytes"`
	Medians map[string]float64            `json:"median_s"`
	Ratio   map[string]float64            `json:"ratio"`
	Phases  map[string]map[string]float64 `json:"phase_median_s"`
	// Firmware is the median of the phases out of gitboot's reach
	// (firmwarePhases), per TARGET/MODE.
	Firmware map[string]float64 `json:"firmware_median_s"`
	Runs     []bootResult       `json:"boots_s"`
}

func (s *summary) add(all []bootResult) {
	s.Runs = all
	s.Firmware = map[string]float64{}
	for _, tg := range s.Targets {
		for _, mode := range s.Modes {
			key := tg + "/" + mode
			var secs, fw []float64
			phases := map[string][]float64{}
			for _, r := range all {
				if r.Target != tg || r.Mode != mode {
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
			s.Medians[key] = median(secs)
			s.Firmware[key] = median(fw)
			s.Phases[key] = map[string]float64{}
			for p, v := range phases {
				s.Phases[key][p] = median(v)
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
	fmt.Printf("artifact bytes: %v\n", s.Sizes)
}
