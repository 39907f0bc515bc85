package httpboot

import (
	"strings"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/internal/macaddr"
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
	routeInventory
	routeReconcile
	routeApply
	routePower   // POST /power: BMC power control (Config.Power)
	routeRollout // /rollout: Config.Rollout
	routeCheckPath
	routeUI         // GET /: the status page (Config.UI)
	routeEvents     // GET /events: its Server-Sent Events (Config.UI)
	routeInitFailed // POST /init-failed/{mac}: a node's /init could not exec its init
	routeRtInitrd   // GET /runtime-initrd/{mac}: the runtime overlay as a file in a cpio (runtimeinitrd.go)
	routeStage1     // GET /stage1/{mac}: a two-stage image's stage-one initramfs (stage1.go)
	numRoutes
)

var routeNames = [numRoutes]string{
	routeNone:       "none",
	routeIPXE:       "ipxe",
	routeKernel:     "kernel",
	routeImage:      "image",
	routeSystem:     "system",
	routeRuntime:    "runtime",
	routeExtra:      "extra",
	routeStatus:     "status",
	routeMetrics:    "metrics",
	routeHealthz:    "healthz",
	routeBoot:       "boot",
	routeInventory:  "inventory",
	routeReconcile:  "reconcile",
	routeApply:      "apply",
	routePower:      "power",
	routeCheckPath:  "check-path",
	routeUI:         "ui",
	routeEvents:     "events",
	routeInitFailed: "init-failed",
	routeRollout:    "rollout",
	routeRtInitrd:   "runtime-initrd",
	routeStage1:     "stage1",
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
	{"/runtime-initrd/", routeRtInitrd},
	{"/extra/", routeExtra},
	{"/stage1/", routeStage1},
	{"/init-failed/", routeInitFailed},
}

// maxExtra bounds the index in /extra/{mac}/{n}.
const maxExtra = 99

// maxPath bounds the decoded path of any route; the longest is
// /runtime-initrd/{mac}/{hex}, 98 bytes.
const maxPath = 100

// digestLen is the length of a sha256 digest in hex.
const digestLen = 64

// parsed is the result of parsing a request path.
type parsed struct {
	route route
	mac   string // canonical (lower case, colons)
	index int    // for routeExtra
	// digest is the 64 lower-case hex digits of /{route}/{mac}/{hex}
	// (sha256); empty for the plain form.
	digest string
	file   string // for routeBoot: the file under ipxe_dir
	// bad is set when the path names a route but its argument is
	// malformed (400); route is routeNone then and why says what is
	// wrong (a constant string).
	bad bool
	why string
	// admin is set on the admin listener (admin.go); trusted when its
	// request carried the admin token, which stands in for a loopback
	// client address on the routes that change state.
	admin, trusted bool
	// other is set (route routeNone) when the path is a route of the
	// other listener: 404 whatever the method.
	other bool
}

func badPath(why string) parsed { return parsed{bad: true, why: why} }

// parsePath maps a request's decoded path to a route. iPXE percent-encodes
// the colons of a MAC (/ipxe/52%3A54%3A...), so the decoded path is what is
// checked; the check is strict (a route prefix, exactly one well-formed
// MAC, for /extra/ an index, and for artifact routes optionally one
// 64-digit lower-case hex digest; or one of a few fixed paths), so no
// decoded "..", "/" or NUL can pass. rawPath is the URL's RawPath, only
// used to tell a malformed argument (400) from an unknown path (404). The
// function allocates only when the MAC is not already canonical.
func parsePath(path, rawPath string) parsed {
	if len(path) > maxPath {
		if hasMACPrefix(path) || hasMACPrefix(rawPath) {
			return badPath("path too long")
		}
		return parsed{}
	}
	switch path {
	case "/status":
		return parsed{route: routeStatus}
	case "/metrics":
		return parsed{route: routeMetrics}
	case "/healthz":
		return parsed{route: routeHealthz}
	case "/inventory":
		return parsed{route: routeInventory}
	case "/reconcile":
		return parsed{route: routeReconcile}
	case "/apply":
		return parsed{route: routeApply}
	case "/power":
		return parsed{route: routePower}
	case "/check-path":
		return parsed{route: routeCheckPath}
	case "/":
		return parsed{route: routeUI}
	case "/events":
		return parsed{route: routeEvents}
	case "/rollout":
		return parsed{route: routeRollout}
	}
	if f, ok := bootFiles[path]; ok {
		return parsed{route: routeBoot, file: f}
	}
	for _, m := range macRoutes {
		if !strings.HasPrefix(path, m.prefix) {
			continue
		}
		macPart, tail, more := strings.Cut(path[len(m.prefix):], "/")
		// One spelling per URL: the 17-character forms only (iPXE's
		// ${net0/mac} is the colon form); macaddr.Canonical also reads
		// the dotted form, which this route refuses. Canonical input is
		// returned as is, without allocating.
		mac, ok := macaddr.Canonical(macPart)
		if !ok || len(macPart) != 17 {
			return badPath("malformed MAC (want 52:54:00:00:00:01 or 52-54-00-00-00-01)")
		}
		p := parsed{route: m.r, mac: mac}
		if m.r == routeExtra {
			if !more {
				return badPath("missing initrd index: /extra/{mac}/{n}")
			}
			var num string
			num, tail, more = strings.Cut(tail, "/")
			if p.index, ok = parseIndex(num); !ok {
				return badPath("malformed initrd index (0 to 99, no leading zeros)")
			}
		}
		if more {
			if m.r == routeIPXE || m.r == routeInitFailed {
				return badPath("unexpected path segment after the MAC")
			}
			if !isDigestHex(tail) {
				return badPath("malformed digest (want 64 lower-case hex digits of the sha256, and nothing after it)")
			}
			p.digest = tail
		}
		return p
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

// parseIndex parses an /extra/ index: 0..maxExtra, no leading zeros.
func parseIndex(num string) (int, bool) {
	if len(num) == 0 || len(num) > 2 || (len(num) > 1 && num[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > maxExtra {
		return 0, false
	}
	return n, true
}

// isDigestHex reports whether s is 64 lower-case hex digits.
func isDigestHex(s string) bool {
	if len(s) != digestLen {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// digestHex returns the hex part of an artifact's "sha256:<hex>" digest,
// or "" when the digest is not in that form.
func digestHex(d string) string {
	if len(d) != len("sha256:")+digestLen || d[:len("sha256:")] != "sha256:" || !isDigestHex(d[len("sha256:"):]) {
		return ""
	}
	return d[len("sha256:"):]
}

// hasDigest reports whether a's digest is sha256:hex.
func hasDigest(a *bootsvc.Artifact, hex string) bool {
	return len(a.Digest) == len("sha256:")+digestLen && a.Digest[len("sha256:"):] == hex && a.Digest[:len("sha256:")] == "sha256:"
}
