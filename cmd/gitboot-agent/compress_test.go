package main

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestReadOverlayCompressions: the runtime overlay follows its image's
// compression, so the agent reads gzip, zstd and plain cpio alike (with
// --from as from /runtime/{mac}), and still refuses garbage.
func TestReadOverlayCompressions(t *testing.T) {
	raw := rawCPIO(t, dir("etc", 0o755), file("etc/motd", "hello", 0o644))
	var zs bytes.Buffer
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	for name, data := range map[string][]byte{"gzip": gz(t, raw), "zstd": zs.Bytes(), "none": raw} {
		ents, err := readOverlay(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.name)
		}
		if len(got) != 2 || got[1] != "etc/motd" {
			t.Errorf("%s: entries %v", name, got)
		}
	}
	if _, err := readOverlay(bytes.NewReader(append([]byte{0x28, 0xb5, 0x2f, 0xfd}, "not zstd at all"...))); err == nil {
		t.Error("a broken zstd overlay was read")
	}
}
