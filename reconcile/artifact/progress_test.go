package artifact

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/hclspec"
	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's master and slave ends.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal slave (is /dev/pts mounted?): %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

func TestProgress(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "boot/vmlinuz-1"), "k", 0o644)
	for i := 0; i < 20; i++ {
		write(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), strings.Repeat("x", 100<<10), 0o644)
	}
	tc := &testCluster{images: []*hclspec.Image{{Name: "img", Source: src}}, nodes: mkNodes(1, "img", nil, nil)}

	// Not a terminal: plain lines, one per 10 %.
	var buf bytes.Buffer
	b, err := New(Config{StateDir: t.TempDir(), Progress: &buf})
	if err != nil {
		t.Fatal(err)
	}
	mustBuild(t, b, tc.build())
	out := buf.String()
	for _, want := range []string{"image img: 10% ", "image img: 50% ", "image img: done, 2.0 MiB in "} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lines lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Error("carriage returns in non-terminal output")
	}

	// A terminal: a redrawn bar with bytes, rate and ETA.
	master, slave := openPTY(t)
	b, err = New(Config{StateDir: t.TempDir(), Progress: slave})
	if err != nil {
		t.Fatal(err)
	}
	mustBuild(t, b, tc.build())
	slave.Close()
	got, _ := io.ReadAll(master) // ends with EIO once the slave is closed
	s := string(got)
	for _, want := range []string{"\rimage img [", "100%", "2.0 MiB/2.0 MiB", "/s ETA "} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal bar lacks %q: %q", want, s)
		}
	}
}
