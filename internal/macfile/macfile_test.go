package macfile

import (
	"slices"
	"strings"
	"testing"
)

func macs(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.MAC)
	}
	return out
}

func TestRead(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		lines    []int
	}{
		{"one a line", "52:54:00:00:00:01\n52-54-00-00-00-02\n", []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}, []int{1, 2}},
		{"separators only (a spreadsheet's empty row)", "52:54:00:00:00:01\n,\n,,\n\n52:54:00:00:00:02\n", []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}, []int{1, 5}},
		{"header and a MAC in the second column", "serial,mac,rack\nSN1,52:54:00:00:00:01,r1\nSN2,52:54:00:00:00:02,r1\n", []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}, []int{2, 3}},
		{"titled column beside another MAC", "bmc,MAC Address\n52:54:00:00:ff:01,52:54:00:00:00:01\n", []string{"52:54:00:00:00:01"}, []int{2}},
		{"quoted and spaced", "\"52:54:00:00:00:01\", r1\n", []string{"52:54:00:00:00:01"}, []int{1}},
		{"whitespace columns and comments", "# rack 1\n52:54:00:00:00:01 r1u1\n\t52:54:00:00:00:02\tr1u2\n", []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read("macs.csv", strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var lines []int
			for _, e := range got {
				lines = append(lines, e.Line)
			}
			if !slices.Equal(macs(got), tt.want) || !slices.Equal(lines, tt.lines) {
				t.Errorf("got %v on lines %v, want %v on %v", macs(got), lines, tt.want, tt.lines)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not a MAC below the header", "mac\n52:54:00:00:00:01\nnope\n", `macs.csv:3: "nope" (column 1) is not a MAC address`},
		{"no MAC in a data row", "52:54:00:00:00:01,a\n,b\n", `macs.csv:2: "" (column 1) is not a MAC address`},
		{"repeated", "52:54:00:00:00:01\n52:54:00:00:00:01\n", "macs.csv:2: 52:54:00:00:00:01 is listed already on line 1"},
		{"two headers", "serial,rack\nmore,titles\n", `macs.csv:2: no MAC address in "more,titles"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := read("macs.csv", strings.NewReader(tt.in))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
}
