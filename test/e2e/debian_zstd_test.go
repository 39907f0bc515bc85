package e2e

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/gitboot/gitboot/internal/initrdtest"
)

// initrdURLRE finds the image and system overlay URLs in an iPXE script.
var initrdURLRE = regexp.MustCompile(`http://\S+/(image|system)/\S+`)

// checkServedZstd checks that what the server sends node mac as its image
// and system overlay is zstd (the Debian kernel has CONFIG_RD_ZSTD=y, so
// the image and the overlays following it default to zstd), by fetching
// the first bytes of each URL of the node's iPXE script.
func (l *debianLab) checkServedZstd(t *testing.T, mac string) {
	t.Helper()
	script, err := l.srv.Output(context.Background(), "curl", "-sf", "http://127.0.0.1:9873/ipxe/"+mac)
	if err != nil {
		t.Fatalf("iPXE script of %s: %v", mac, err)
	}
	urls := initrdURLRE.FindAllString(string(script), -1)
	if len(urls) < 2 {
		t.Fatalf("iPXE script of %s names %d image/system URLs:\n%s", mac, len(urls), script)
	}
	for _, u := range urls {
		head, err := l.srv.Output(context.Background(), "curl", "-sf", "-r", "0-3", u)
		if err != nil {
			t.Fatalf("fetching %s: %v", u, err)
		}
		if !bytes.HasPrefix(head, initrdtest.MagicZstd) {
			t.Errorf("%s starts %x; want zstd (%x)", u, head, initrdtest.MagicZstd)
		}
	}
}
