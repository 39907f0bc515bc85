package httpboot

import (
	"strconv"
	"strings"

	"github.com/gitboot/gitboot/bootsvc"
)

// appendTwoStage appends the script of a node whose image boots in two
// stages: the kernel and the stage-one initramfs only (/stage1/{mac}/{hex}),
// with the kernel arguments of a one-stage boot, gitboot.root=tmpfs (stage
// one always builds the root in a tmpfs of the node's root_size) and
//
//	gitboot.stage2=image:HEX,extra0:HEX,system:HEX,runtime:HEX
//
// the artifacts stage one streams into that tmpfs, in unpack order, each
// fetched from /{name}/{mac}/{hex} and refused unless its sha256 is HEX
// (runtime only without secure_runtime; the agent fetches it otherwise).
func appendTwoStage(dst []byte, snap *bootsvc.Snapshot, node *bootsvc.Node) []byte {
	mac := node.MAC
	srv := &snap.Server
	arts := &node.Artifacts
	secure := srv.SecureRuntime
	dst = appendHeader(dst, snap, node)
	dst = append(dst, " (two-stage)\necho gitboot: booting "...)
	dst = appendClean(dst, node.Name)
	dst = append(dst, " in two stages from "...)
	dst = appendBase(dst, srv)
	dst = append(dst, "\n:kernel\nkernel --name kernel "...)
	dst = appendURL(dst, srv, "/kernel/", mac, -1, &arts.Kernel)
	dst = append(dst, " initrd=stage1"...)
	// The tmpfs root always: stage one streams the image into it.
	dst = appendNodeArgs(dst, snap, node, true)
	dst = append(dst, " gitboot.stage2="...)
	dst = appendStage2(dst, "image", &arts.Image)
	for i := range arts.Extra {
		dst = append(dst, ',')
		dst = appendStage2(dst, "extra"+strconv.Itoa(i), &arts.Extra[i])
	}
	dst = append(dst, ',')
	dst = appendStage2(dst, "system", &arts.System)
	if !secure {
		dst = append(dst, ',')
		dst = appendStage2(dst, "runtime", &arts.Runtime)
	}
	dst = appendNetArgs(dst, snap, node)
	dst = append(dst, " || goto kernel_failed\n"...)
	dst = appendInitrd(dst, srv, "stage1", "/stage1/", mac, -1, &arts.Stage1)
	dst = append(dst, "boot || goto boot_failed\n"...)
	dst = appendRetry(dst, "kernel", -1)
	dst = appendRetry(dst, "stage1", -1)
	dst = append(dst, ":boot_failed\necho gitboot: boot failed, rebooting in "...)
	dst = strconv.AppendInt(dst, RetryDelay, 10)
	dst = append(dst, " s\nsleep "...)
	dst = strconv.AppendInt(dst, RetryDelay, 10)
	dst = append(dst, "\nreboot\n"...)
	return dst
}

// appendStage2 appends NAME:HEX for one artifact of gitboot.stage2.
func appendStage2(dst []byte, name string, a *bootsvc.Artifact) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':')
	return append(dst, strings.TrimPrefix(a.Digest, "sha256:")...)
}
