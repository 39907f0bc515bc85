// Command gen writes examples/site1000/racks/rack01.macs ... rack25.macs:
// the boot-NIC MAC addresses of a 1,000-node delivery, 40 nodes a rack, in
// the shape a hardware vendor ships them (a header comment line, then one
// MAC a line, in slot order). The output is deterministic, so running it
// again reproduces the committed files:
//
//	go run ./examples/site1000/gen -out examples/site1000/racks
//
// Only the example repository uses it; nothing imports it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	racks        = 25
	nodesPerRack = 40
)

func main() {
	out := flag.String("out", "racks", "directory to write rackNN.macs files into")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for r := 1; r <= racks; r++ {
		name := filepath.Join(dir, fmt.Sprintf("rack%02d.macs", r))
		if err := os.WriteFile(name, []byte(rackFile(r)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rackFile is the text of one rack's file. MACs are in the vendor's
// upper-case dash form (gitboot normalises them to lower-case colon form)
// under a locally administered prefix, 02-47-42 ("GB"), so they can never
// clash with real hardware.
func rackFile(rack int) string {
	var b strings.Builder
	first := (rack-1)*nodesPerRack + 1
	fmt.Fprintf(&b, "# Vendor XYZ rack %02d asset XYZ-2026-%04d, nodes SN26%05d-SN26%05d, boot NIC MACs in slot order\n",
		rack, 4100+rack, first, first+nodesPerRack-1)
	for slot := 1; slot <= nodesPerRack; slot++ {
		fmt.Fprintf(&b, "02-47-42-00-%02X-%02X\n", rack, slot)
	}
	return b.String()
}
