// Package macaddr is gitboot's one spelling of a MAC address: 48 bits,
// lower-case hex pairs joined by colons ("52:54:00:ab:cd:01"). hclspec
// normalises the mac of every node with it and bootsvc (bootsvc.CanonicalMAC)
// looks nodes up with it, so a node written as "52-54-00-AB-CD-01" is found
// by the form the wire carries; bootsvc/httpboot parses the MAC of its
// URLs with it and bootsvc/status names unknown MACs with it. No other
// package parses MACs by hand.
package macaddr

// Canonical converts a 48-bit MAC written with ':' or '-' separators (any
// case, one separator throughout) or in dotted form (xxxx.xxxx.xxxx) to
// lower-case colon form. A MAC already in that form is returned as is,
// without allocating.
func Canonical(s string) (string, bool) {
	var hex [12]byte
	switch len(s) {
	case 17:
		sep := s[2]
		if sep != ':' && sep != '-' {
			return "", false
		}
		for i, j := 0, 0; i < 17; i++ {
			if i%3 == 2 {
				if s[i] != sep {
					return "", false
				}
				continue
			}
			hex[j] = s[i]
			j++
		}
		if sep == ':' && isLowerHex(hex[:]) {
			return s, true
		}
	case 14:
		if s[4] != '.' || s[9] != '.' {
			return "", false
		}
		copy(hex[0:4], s[0:4])
		copy(hex[4:8], s[5:9])
		copy(hex[8:12], s[10:14])
	default:
		return "", false
	}
	var out [17]byte
	for i, c := range hex {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		o := i/2*3 + i%2
		out[o] = c
		if i%2 == 1 && o+1 < len(out) {
			out[o+1] = ':'
		}
	}
	return string(out[:]), true
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
