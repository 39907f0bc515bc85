package httpboot

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gitboot/gitboot/bootsvc"
)

// TestBootFiles: /boot/ serves exactly the iPXE binaries that DHCP names
// for UEFI HTTP boot clients, following a configured binary's symlink out
// of ipxe_dir (as Debian's ipxe.efi is), and nothing else.
func TestBootFiles(t *testing.T) {
	ipxeDir := filepath.Join(t.TempDir(), "ipxe")
	outside := filepath.Join(t.TempDir(), "boot")
	os.MkdirAll(ipxeDir, 0o755)
	os.MkdirAll(outside, 0o755)
	efi := bytes.Repeat([]byte("EFI-BINARY"), 1000)
	os.WriteFile(filepath.Join(outside, "ipxe.efi"), efi, 0o644)
	os.Symlink(filepath.Join(outside, "ipxe.efi"), filepath.Join(ipxeDir, "ipxe.efi"))
	os.WriteFile(filepath.Join(ipxeDir, "snponly.efi"), []byte("SNP"), 0o644)
	os.WriteFile(filepath.Join(ipxeDir, "secret.txt"), []byte("no"), 0o644)
	os.Mkdir(filepath.Join(ipxeDir, "arm64"), 0o755)
	// Boot names that lead to no regular file: a FIFO (which must not
	// hold the request), a device.
	if err := syscall.Mkfifo(filepath.Join(outside, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(outside, "fifo"), filepath.Join(ipxeDir, "undionly.kpxe"))
	os.Symlink("/dev/zero", filepath.Join(ipxeDir, "arm64", "snponly.efi"))
	e := newEnv(t, Config{}, func(s *bootsvc.Server, _ []bootsvc.Node) { s.IPXEDir = ipxeDir })

	if got := curl(t, e.base+"/boot/ipxe.efi"); !bytes.Equal(got, efi) {
		t.Errorf("/boot/ipxe.efi: %d bytes, want the %d of the symlinked binary", len(got), len(efi))
	}
	if got := curl(t, e.base+"/boot/snponly.efi"); string(got) != "SNP" {
		t.Errorf("/boot/snponly.efi = %q", got)
	}
	for path, want := range map[string]string{
		"/boot/secret.txt":          "404", // not a boot binary
		"/boot/arm64/snponly.efi":   "404", // a device
		"/boot/undionly.kpxe":       "404", // a FIFO
		"/boot/../ipxe/secret.txt":  "404",
		"/boot/%2e%2e/etc/passwd":   "404",
		"/boot/":                    "404",
		"/boot/arm64":               "404",
		"/boot/ipxe.efi/../../etc/": "404",
	} {
		if got := curlCode(t, "--path-as-is", e.base+path); got != want {
			t.Errorf("GET %s: %s, want %s", path, got, want)
		}
	}
}
