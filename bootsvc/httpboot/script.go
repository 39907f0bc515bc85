package httpboot

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/gitboot/gitboot/bootsvc"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// RetryDelay is how long a node's iPXE script waits before retrying a
// failed download, in seconds.
const RetryDelay = 10

// UnknownRebootDelay is how long the script for an unknown MAC waits
// before rebooting, in seconds.
const UnknownRebootDelay = 60

// AppendScript appends the iPXE script for mac (canonical form) to dst and
// returns it, with the node it was made for (nil for an unknown MAC). It is
// a pure function of (mac, snap) and allocates nothing beyond growing dst.
//
// A known node's script loads the kernel, then the image, the extra
// initrds, the system and (unless secure_runtime) the runtime overlay,
// each by a digest URL (/kernel/{mac}/{hex}: the artifact's sha256, so a
// node never mixes files of two snapshots; the runtime overlay as
// /runtime-initrd/{mac}/{hex}, wrapped as one file for /init to hand to
// the agent, see RuntimeInitrdFile), each initrd with `initrd
// --name` and a matching `initrd=` kernel argument (UEFI needs both), and boots
// with the node's kernel arguments and gitboot's own, which gitboot's
// /init and gitboot-agent read:
//
//	gitboot.node=NAME            the node's name
//	gitboot.server=URL           the HTTP base, e.g. http://10.99.0.1:9873
//	gitboot.agent=URL            the agents' HTTPS base, e.g. https://10.99.0.1:9874
//	                             (only when the server has an https_port): the
//	                             agent fetches and reports only there, pinning
//	                             the CA its system overlay carries
//	gitboot.mac=MAC              the boot interface (lower-case colon form)
//	gitboot.interval=60s         the server's runtime_interval (Go duration)
//	gitboot.secure=1             only with secure_runtime: the runtime overlay
//	                             is not an initrd; the agent fetches it at init
//	                             from a port < 1024 (iPXE cannot bind one)
//	gitboot.root=tmpfs           only with root = "tmpfs": /init moves the root
//	gitboot.root_size=SIZE       into a tmpfs of SIZE ("50%", "8G") first
//
// A failed step prints which one failed, sleeps RetryDelay seconds and
// retries that step. An unknown MAC's script prints the MAC and the server
// and reboots after UnknownRebootDelay seconds.
func AppendScript(dst []byte, snap *bootsvc.Snapshot, mac string) ([]byte, *bootsvc.Node) {
	node, ok := snap.NodeByMAC(mac)
	dst = append(dst, "#!ipxe\n"...)
	if !ok {
		return appendUnknown(dst, snap, mac), nil
	}
	if node.Artifacts.Stage1.Path != "" {
		return appendTwoStage(dst, snap, node), node
	}
	mac = node.MAC
	dst = appendHeader(dst, snap, node)
	dst = append(dst, "\necho gitboot: booting "...)
	dst = appendClean(dst, node.Name)
	dst = append(dst, " from "...)
	dst = appendBase(dst, &snap.Server)
	dst = append(dst, '\n')

	// Kernel, with its arguments.
	dst = append(dst, ":kernel\nkernel --name kernel "...)
	dst = appendURL(dst, &snap.Server, "/kernel/", mac, -1, &node.Artifacts.Kernel)
	dst = append(dst, " initrd=image"...)
	for i := range node.Artifacts.Extra {
		dst = append(dst, " initrd=extra"...)
		dst = strconv.AppendInt(dst, int64(i), 10)
	}
	secure := snap.Server.SecureRuntime
	dst = append(dst, " initrd=system"...)
	if !secure {
		dst = append(dst, " initrd=runtime"...)
	}
	dst = appendNodeArgs(dst, snap, node, node.Root == "tmpfs")
	dst = appendNetArgs(dst, snap, node)
	dst = append(dst, " || goto kernel_failed\n"...)

	// Initrds, in unpack order.
	arts := &node.Artifacts
	dst = appendInitrd(dst, &snap.Server, "image", "/image/", mac, -1, &arts.Image)
	for i := range arts.Extra {
		dst = appendInitrd(dst, &snap.Server, "extra", "/extra/", mac, i, &arts.Extra[i])
	}
	dst = appendInitrd(dst, &snap.Server, "system", "/system/", mac, -1, &arts.System)
	if !secure {
		// Wrapped (/runtime-initrd/): the kernel unpacks one file, which
		// /init hands to the agent, so that the agent lays the overlay
		// over the image and keeps the image's own copies.
		dst = appendInitrd(dst, &snap.Server, "runtime", "/runtime-initrd/", mac, -1, &arts.Runtime)
	}
	dst = append(dst, "boot || goto boot_failed\n"...)

	// Failure handlers.
	dst = appendRetry(dst, "kernel", -1)
	dst = appendRetry(dst, "image", -1)
	for i := range node.Artifacts.Extra {
		dst = appendRetry(dst, "extra", i)
	}
	dst = appendRetry(dst, "system", -1)
	if !secure {
		dst = appendRetry(dst, "runtime", -1)
	}
	dst = append(dst, ":boot_failed\necho gitboot: boot failed, rebooting in "...)
	dst = strconv.AppendInt(dst, RetryDelay, 10)
	dst = append(dst, " s\nsleep "...)
	dst = strconv.AppendInt(dst, RetryDelay, 10)
	dst = append(dst, "\nreboot\n"...)
	return dst, node
}

func appendUnknown(dst []byte, snap *bootsvc.Snapshot, mac string) []byte {
	dst = append(dst, "echo gitboot: unknown MAC "...)
	dst = append(dst, mac...)
	dst = append(dst, "\necho gitboot: server "...)
	if snap != nil {
		dst = appendBase(dst, &snap.Server)
		if snap.Server.Name != "" {
			dst = append(dst, " ("...)
			dst = appendClean(dst, snap.Server.Name)
			dst = append(dst, ')')
		}
	}
	dst = append(dst, "\necho gitboot: declare a node with this mac (see gitboot status --unknown)\necho gitboot: rebooting in "...)
	dst = strconv.AppendInt(dst, UnknownRebootDelay, 10)
	dst = append(dst, " s\nsleep "...)
	dst = strconv.AppendInt(dst, UnknownRebootDelay, 10)
	dst = append(dst, "\nreboot\n"...)
	return dst
}

// appendLabel appends name, or name and index when index >= 0 ("extra0").
func appendLabel(dst []byte, name string, index int) []byte {
	dst = append(dst, name...)
	if index >= 0 {
		dst = strconv.AppendInt(dst, int64(index), 10)
	}
	return dst
}

func appendInitrd(dst []byte, srv *bootsvc.Server, name, prefix, mac string, index int, a *bootsvc.Artifact) []byte {
	dst = append(dst, ':')
	dst = appendLabel(dst, name, index)
	dst = append(dst, "\ninitrd --name "...)
	dst = appendLabel(dst, name, index)
	dst = append(dst, ' ')
	dst = appendURL(dst, srv, prefix, mac, index, a)
	dst = append(dst, " || goto "...)
	dst = appendLabel(dst, name, index)
	dst = append(dst, "_failed\n"...)
	return dst
}

func appendRetry(dst []byte, name string, index int) []byte {
	dst = append(dst, ':')
	dst = appendLabel(dst, name, index)
	dst = append(dst, "_failed\necho gitboot: downloading "...)
	dst = appendLabel(dst, name, index)
	dst = append(dst, " failed, retrying in "...)
	dst = strconv.AppendInt(dst, RetryDelay, 10)
	dst = append(dst, " s\nsleep "...)
	dst = strconv.AppendInt(dst, RetryDelay, 10)
	dst = append(dst, "\ngoto "...)
	dst = appendLabel(dst, name, index)
	dst = append(dst, '\n')
	return dst
}

// appendInterval appends d (status.DefaultInterval when not positive) as a Go
// duration string the agent parses: whole seconds as "60s" (also easy for
// a shell), anything else as time.Duration.String.
func appendInterval(dst []byte, d time.Duration) []byte {
	if d <= 0 {
		d = status.DefaultInterval
	}
	if d%time.Second == 0 {
		dst = strconv.AppendInt(dst, int64(d/time.Second), 10)
		return append(dst, 's')
	}
	return append(dst, d.String()...)
}

// appendBase appends srv.HTTPBase() without allocating.
func appendBase(dst []byte, srv *bootsvc.Server) []byte {
	dst = append(dst, "http://"...)
	return netip.AddrPortFrom(srv.Address, uint16(srv.HTTPPort)).AppendTo(dst)
}

// appendURL appends the URL of artifact a: prefix, mac, the index when
// index >= 0, and the hex of a's sha256 digest, so the URL names that
// exact content ({base}/image/{mac}/{hex}). An artifact without a
// "sha256:<hex>" digest gets the plain URL, which serves whatever is
// current.
func appendURL(dst []byte, srv *bootsvc.Server, prefix, mac string, index int, a *bootsvc.Artifact) []byte {
	dst = appendBase(dst, srv)
	dst = append(dst, prefix...)
	dst = append(dst, mac...)
	if index >= 0 {
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(index), 10)
	}
	if hex := digestHex(a.Digest); hex != "" {
		dst = append(dst, '/')
		dst = append(dst, hex...)
	}
	return dst
}

// appendClean appends s with control characters replaced by '_', so that no
// value from the model can end a script line early.
func appendClean(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendNetArgs adds the node's address, gateway and DNS servers for
// gitboot's /init (gitboot.ip=ADDR/PREFIX gitboot.gateway= gitboot.dns=A,B).
// They travel on the command line rather than in a per-node file of the
// system overlay, so nodes with the same overlays share one system overlay
// artifact (which carries the multi-megabyte agent binary).
func appendNetArgs(dst []byte, snap *bootsvc.Snapshot, node *bootsvc.Node) []byte {
	if !node.IP.IsValid() {
		return dst
	}
	dst = append(dst, " gitboot.ip="...)
	dst = node.IP.AppendTo(dst)
	nw, ok := snap.Network(node.Network)
	if !ok {
		return dst
	}
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(nw.Subnet.Bits()), 10)
	if nw.Gateway.IsValid() {
		dst = append(dst, " gitboot.gateway="...)
		dst = nw.Gateway.AppendTo(dst)
	}
	for i, d := range nw.DNS {
		if i == 0 {
			dst = append(dst, " gitboot.dns="...)
		} else {
			dst = append(dst, ',')
		}
		dst = d.AppendTo(dst)
	}
	return dst
}

// appendHeader appends a node script's first line without its newline:
// "# gitboot: node NAME MAC server SERVER[ commit COMMIT]".
func appendHeader(dst []byte, snap *bootsvc.Snapshot, node *bootsvc.Node) []byte {
	dst = append(dst, "# gitboot: node "...)
	dst = appendClean(dst, node.Name)
	dst = append(dst, ' ')
	dst = append(dst, node.MAC...)
	dst = append(dst, " server "...)
	dst = appendClean(dst, snap.Server.Name)
	if snap.Commit != "" {
		dst = append(dst, " commit "...)
		dst = appendClean(dst, snap.Commit)
	}
	return dst
}

// appendNodeArgs appends the node's kernel arguments and the gitboot.*
// ones both boot kinds carry (node, server, agent, mac, interval, secure
// and, with tmpfsRoot, the tmpfs root and its size).
func appendNodeArgs(dst []byte, snap *bootsvc.Snapshot, node *bootsvc.Node, tmpfsRoot bool) []byte {
	srv := &snap.Server
	for _, a := range node.KernelArgs {
		if a == "" {
			continue
		}
		dst = append(dst, ' ')
		dst = appendClean(dst, a)
	}
	dst = append(dst, " gitboot.node="...)
	dst = appendClean(dst, node.Name)
	dst = append(dst, " gitboot.server="...)
	dst = appendBase(dst, srv)
	if srv.HTTPSPort > 0 {
		dst = append(dst, " gitboot.agent=https://"...)
		dst = netip.AddrPortFrom(srv.Address, uint16(srv.HTTPSPort)).AppendTo(dst)
	}
	dst = append(dst, " gitboot.mac="...)
	dst = append(dst, node.MAC...)
	dst = append(dst, " gitboot.interval="...)
	dst = appendInterval(dst, srv.RuntimeInterval)
	if srv.SecureRuntime {
		dst = append(dst, " gitboot.secure=1"...)
	}
	if tmpfsRoot {
		dst = append(dst, " gitboot.root=tmpfs"...)
		if node.RootSize != "" {
			dst = append(dst, " gitboot.root_size="...)
			dst = appendClean(dst, node.RootSize)
		}
	}
	return dst
}
