package httpboot

import (
	"strings"

	"github.com/gitboot/gitboot/bootsvc"
)

// route is one of the paths httpboot serves.
type route uint8

const (
	routeNone route = iota // no such path: 404
	routeIPXE
	routeKernel
	routeImage
	routeSystem
	routeRuntime
	routeExtra
	routeStatus
	routeMetrics
	routeHealthz
	routeBoot // /boot/{file}: an iPXE binary, for UEFI HTTP boot clients
	numRoutes
)

var routeNames = [numRoutes]string{
	routeNone:    "none",
	routeIPXE:    "ipxe",
	routeKernel:  "kernel",
	routeImage:   "image",
	routeSystem:  "system",
	routeRuntime: "runtime",
	routeExtra:   "extra",
	routeStatus:  "status",
	routeMetrics: "metrics",
	routeHealthz: "healthz",
	routeBoot:    "boot",
}

// bootFiles are the only names /boot/ serves: the iPXE binaries DHCP hands
// to UEFI HTTP boot clients (bootsvc/dhcp's HTTPBinaryPath), relative to
// the server's ipxe_dir.
var bootFiles = map[string]string{
	"/boot/ipxe.efi":          "ipxe.efi",
	"/boot/snponly.efi":       "snponly.efi",
	"/boot/arm64/snponly.efi": "arm64/snponly.efi",
	"/boot/undionly.kpxe":     "undionly.kpxe",
}

func (r route) String() string { return routeNames[r] }

// macRoutes are the routes followed by "/{mac}".
var macRoutes = [...]struct {
	prefix string
	r      route
}{
	{"/ipxe/", routeIPXE},
	{"/kernel/", routeKernel},
	{"/image/", routeImage},
	{"/system/", routeSystem},
	{"/runtime/", routeRuntime},
	{"/extra/", routeExtra},
}

// maxExtra bounds the index in /extra/{mac}/{n}.
const maxExtra = 99

// parsed is the result of parsing a request path.
type parsed struct {
	route route
	mac   string // canonical (lower case, colons)
	index int    // for routeExtra
	file  string // for routeBoot: the file under ipxe_dir
	// bad is set when the path names a route but its argument is
	// malformed (400); route is routeNone then.
	bad bool
}

// parsePath maps a request's decoded path to a route. iPXE percent-encodes
// the colons of a MAC (/ipxe/52%3A54%3A...), so the decoded path is what is
// checked; the check is strict (a route prefix and exactly one well-formed
// MAC, or one of three fixed paths), so no decoded "..", "/" or NUL can
// pass. rawPath is the URL's RawPath, only used to tell a malformed
// argument (400) from an unknown path (404). The function allocates only
// when the MAC is not already canonical.
func parsePath(path, rawPath string) parsed {
	if len(path) > 64 {
		return parsed{bad: hasMACPrefix(path) || hasMACPrefix(rawPath)}
	}
	switch path {
	case "/status":
		return parsed{route: routeStatus}
	case "/metrics":
		return parsed{route: routeMetrics}
	case "/healthz":
		return parsed{route: routeHealthz}
	}
	if f, ok := bootFiles[path]; ok {
		return parsed{route: routeBoot, file: f}
	}
	for _, m := range macRoutes {
		if !strings.HasPrefix(path, m.prefix) {
			continue
		}
		rest := path[len(m.prefix):]
		idx := 0
		if m.r == routeExtra {
			var ok bool
			rest, idx, ok = cutIndex(rest)
			if !ok {
				return parsed{bad: true}
			}
		}
		mac, ok := canonMAC(rest)
		if !ok {
			return parsed{bad: true}
		}
		return parsed{route: m.r, mac: mac, index: idx}
	}
	return parsed{}
}

func hasMACPrefix(path string) bool {
	for _, m := range macRoutes {
		if strings.HasPrefix(path, m.prefix) {
			return true
		}
	}
	return false
}

// cutIndex splits "{mac}/{n}" into the MAC and n (0..maxExtra, no leading
// zeros).
func cutIndex(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", 0, false
	}
	num := s[i+1:]
	if len(num) == 0 || len(num) > 2 || (len(num) > 1 && num[0] == '0') {
		return "", 0, false
	}
	n := 0
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > maxExtra {
		return "", 0, false
	}
	return s[:i], n, true
}

// canonMAC accepts a 48-bit MAC written with ':' or '-' separators in any
// case and returns its canonical form; canonical input is returned as is.
func canonMAC(s string) (string, bool) {
	if len(s) != 17 {
		return "", false
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return "", false
	}
	canonical := sep == ':'
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != sep {
				return "", false
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			canonical = false
		default:
			return "", false
		}
	}
	if canonical {
		return s, true
	}
	return bootsvc.CanonicalMAC(s)
}
