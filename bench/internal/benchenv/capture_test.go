package benchenv

import (
	"testing"
	"time"
)

func TestParsePackets(t *testing.T) {
	lines := []string{
		"1764470000.100000 IP 0.0.0.0.68 > 255.255.255.255.67: BOOTP/DHCP, Request from 52:54:00:99:00:01, length 396",
		"1764470000.101500 IP 10.99.0.1.67 > 10.99.0.11.68: BOOTP/DHCP, Reply, length 312",
		"1764470000.300000 IP 10.99.0.11.4001 > 10.99.0.1.9873: Flags [S], seq 1, win 8192, length 0",
		"1764470000.300100 IP 10.99.0.1.9873 > 10.99.0.11.4001: Flags [S.], seq 2, ack 2, win 65160, length 0",
		"1764470000.300200 IP 10.99.0.11.4001 > 10.99.0.1.9873: Flags [.], ack 1, win 8192, length 0",
		"tcpdump: listening on x",
		"1764470000.400000 IP6 fe80::1 > ff02::1: ICMP6, router advertisement, length 56",
	}
	got := ParsePackets(lines)
	want := []string{"dhcp-req", "dhcp-reply", "http-syn", "http-srv"}
	if len(got) != len(want) {
		t.Fatalf("parsed %d packets %v, want %v", len(got), got, want)
	}
	for i, p := range got {
		if p.Kind != want[i] {
			t.Errorf("packet %d: %s, want %s", i, p.Kind, want[i])
		}
	}
	if d := got[1].T.Sub(got[0].T); d < 1400*time.Microsecond || d > 1600*time.Microsecond {
		t.Errorf("reply 1.5 ms after the request, parsed %s", d)
	}
}
