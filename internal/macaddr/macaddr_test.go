package macaddr

import (
	"net"
	"testing"
)

var cases = []struct {
	name, in, want string // want "" means rejected
}{
	{"canonical", "52:54:00:ab:cd:01", "52:54:00:ab:cd:01"},
	{"upper colons", "52:54:00:AB:CD:01", "52:54:00:ab:cd:01"},
	{"dashes", "52-54-00-ab-cd-01", "52:54:00:ab:cd:01"},
	{"upper dashes", "52-54-00-AB-CD-01", "52:54:00:ab:cd:01"},
	{"dotted", "5254.00ab.cd01", "52:54:00:ab:cd:01"},
	{"dotted upper", "5254.00AB.CD01", "52:54:00:ab:cd:01"},
	{"mixed separators", "52:54-00:ab:cd:01", ""},
	{"bad separator", "52.54.00.ab.cd.01", ""},
	{"not hex", "52:54:00:ab:cd:0g", ""},
	{"not hex dotted", "5254.00ab.cd0x", ""},
	{"dotted misplaced", "52540.0ab.cd01", ""},
	{"too short", "52:54:00:ab:cd:1", ""},
	{"64-bit", "52:54:00:ab:cd:01:02:03", ""},
	{"no separators", "525400abcd01", ""},
	{"empty", "", ""},
	{"spaces", " 52:54:00:ab:cd:1", ""},
}

func TestCanonical(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Canonical(tc.in)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
			}
		})
	}
}

func TestCanonicalDoesNotAllocate(t *testing.T) {
	s := "52:54:00:ab:cd:01"
	if n := testing.AllocsPerRun(100, func() { Canonical(s) }); n != 0 {
		t.Errorf("canonical input: %v allocations, want 0", n)
	}
}

// FuzzCanonical: Canonical accepts exactly the 48-bit forms net.ParseMAC
// accepts in 14 or 17 characters (hclspec used net.ParseMAC so before),
// gives the same address, and its result is a fixed point.
func FuzzCanonical(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Canonical(s)
		if !ok {
			if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 && (len(s) == 14 || len(s) == 17) {
				t.Fatalf("Canonical(%q) rejects what net.ParseMAC reads as %v", s, hw)
			}
			return
		}
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 || hw.String() != got {
			t.Fatalf("Canonical(%q) = %q; net.ParseMAC: %v, %v", s, got, hw, err)
		}
		if again, ok := Canonical(got); !ok || again != got {
			t.Fatalf("Canonical(%q) = %q, %v: not a fixed point", got, again, ok)
		}
	})
}
