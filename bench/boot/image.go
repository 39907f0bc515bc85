package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"

	"github.com/gitboot/gitboot/bench/internal/benchenv"
)

// Images a run can boot (-image).
const (
	// imageBusybox: static busybox, the kernel and its network modules,
	// made for the run; its /sbin/init prints the marker at once. Small
	// (1.3 MB packed): it measures the servers and iPXE, not the packing.
	imageBusybox = "busybox"
	// imageDebian: the real Debian 12 image as mmdebstrap makes it,
	// scripts/debian-image.sh's unpruned tar, with Debian's own /boot
	// (kernel, config and its 36 MB initrd.img), as a site's image has it.
	imageDebian = "debian"
)

// execMarkerRE is gitboot's /init's last line, just before it execs the
// image's init (the same /init on both targets): the end of a boot of an
// image whose init prints no marker of its own.
var execMarkerRE = regexp.MustCompile(`gitboot init: exec \S+ \(([0-9]+\.[0-9]+) s after the kernel started\)`)

// bootImage is what the run boots.
type bootImage struct {
	// source is the image block's source (a directory or a tar); bootDir
	// holds the image's boot/ directory (the classic reference packs it).
	source, bootDir string
	// marker ends a boot on the serial console (its group 1: the uptime).
	marker *regexp.Regexp
	// memBIOS and memUEFI are the VMs' RAM in MiB.
	memBIOS, memUEFI string
	// filter is tcpdump's: every packet for the small image; for a large
	// one only DHCP and the HTTP packets with SYN, FIN or PSH.
	filter string
	// large: http_packets are not counted (the filter drops most).
	large bool
}

// prepareImage makes or finds the image -image names, under dir.
func prepareImage(dir, root, name, kernel string) (*bootImage, error) {
	switch name {
	case imageBusybox:
		image := filepath.Join(dir, "images", "image")
		if err := makeImage(image, kernel); err != nil {
			return nil, fmt.Errorf("making the test image: %w", err)
		}
		return &bootImage{source: image, bootDir: image, marker: markerRE, memBIOS: "384", memUEFI: "512", filter: captureFilter}, nil
	case imageDebian:
		tar, err := debianRawTar(root)
		if err != nil {
			return nil, err
		}
		name = tar
	}
	if fi, err := os.Stat(name); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("-image %q: want %s, %s or an image tar file", name, imageBusybox, imageDebian)
	}
	// The classic reference packs the image's boot/ the way the image
	// initrd carried it: take it out of the tar.
	bootDir := filepath.Join(dir, "images", "boot-of-image")
	if err := os.MkdirAll(bootDir, 0o755); err != nil {
		return nil, err
	}
	if err := benchenv.Run("tar", "-xf", name, "-C", bootDir, "--wildcards", "./boot*"); err != nil {
		if err2 := benchenv.Run("tar", "-xf", name, "-C", bootDir, "--wildcards", "boot*"); err2 != nil {
			return nil, fmt.Errorf("taking boot/ out of %s: %v; %v", name, err, err2)
		}
	}
	return &bootImage{source: name, bootDir: bootDir, marker: execMarkerRE, memBIOS: "2560", memUEFI: "2560", large: true,
		filter: "udp port 67 or udp port 68 or (tcp port 9873 and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-push) != 0))"}, nil
}

// debianRawTar is scripts/debian-image.sh's unpruned tar (made now, ~4
// min, when missing).
func debianRawTar(root string) (string, error) {
	cache := os.Getenv("GITBOOT_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/gitboot-test"
	}
	raw := filepath.Join(cache, "debian12-raw.tar")
	if _, err := os.Stat(raw); err == nil {
		return raw, nil
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "debian-image.sh"))
	cmd.Stderr = os.Stderr
	if _, err := cmd.Output(); err != nil {
		return "", fmt.Errorf("scripts/debian-image.sh: %w", err)
	}
	if _, err := os.Stat(raw); err != nil {
		return "", fmt.Errorf("scripts/debian-image.sh left no %s: %w", raw, err)
	}
	return raw, nil
}
