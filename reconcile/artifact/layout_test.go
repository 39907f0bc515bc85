package artifact

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"
)

// TestImageLayoutReused: a build that reuses the image artifact (a new
// Builder on the same state) still places overlays on its layout.
func TestImageLayoutReused(t *testing.T) {
	tc := siteCluster(t, []string{"site"}, nil)
	state := t.TempDir()
	b := newBuilder(t, state)
	r := mustBuild(t, b, tc.build())
	if err := b.Commit(r); err != nil {
		t.Fatal(err)
	}
	tc.fs.(fstest.MapFS)["overlays/site/sbin/bar"] = &fstest.MapFile{Data: []byte("bar"), Mode: 0o755}
	b2 := newBuilder(t, state)
	r2 := mustBuild(t, b2, tc.build())
	if r2.Images["img"].Rebuilt {
		t.Error("the image was built again: its layout should have come from the store")
	}
	hdrs, names := cpioHeaders(t, r2.Nodes["n00000"].System.Path)
	if hdrs["usr/sbin/bar"] == nil || hdrs["sbin"] != nil {
		t.Errorf("the overlay is not placed through the image's links: %v", names)
	}
}

func TestLayoutRealpath(t *testing.T) {
	l := &Layout{Links: map[string]string{
		"sbin": "usr/sbin", "lib": "/usr/lib", "usr/local/sbin2": "../../sbin", "etc/up": "../..",
		"a": "b", "b": "a", "abs": "/", "usr/lib64": "lib",
	}, Kinds: map[string]byte{"usr": kindDir, "usr/sbin": kindDir, "usr/lib": kindDir, "etc": kindDir, "usr/local": kindDir}}
	for in, want := range map[string]string{
		"sbin/foo":            "usr/sbin/foo",
		"lib/x/y":             "usr/lib/x/y",
		"usr/local/sbin2/foo": "usr/sbin/foo",
		"etc/up/sbin":         "usr/sbin", // .. stops at the root
		"abs/sbin":            "usr/sbin",
		"usr/lib64/z":         "usr/lib/z",
		"etc/x":               "etc/x",
		"":                    "",
	} {
		got, err := l.realpath(in)
		if err != nil || got != want {
			t.Errorf("realpath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := l.realpath("a/x"); !errors.Is(err, errLinkLoop) {
		t.Errorf("a loop: %v, want errLinkLoop", err)
	}
}

func TestLayoutEncode(t *testing.T) {
	tr := newTree()
	for p, ino := range map[string]*inode{
		"etc":        {mode: typeDir | 0o755},
		"etc/passwd": {mode: typeReg | 0o644, data: bytesContent("root:x:0:0::/root:/bin/sh\n# comment\nbad line\nmunge:x:105:107::/:/bin/false\nmunge:x:9:9::/:/bin/false\n"), size: 99},
		"etc/group":  {mode: typeReg | 0o644, data: bytesContent("munge:x:107:\n"), size: 13},
		"sbin":       {mode: typeSymlink | 0o777, link: "usr/sbin"},
		"dev/null":   {mode: typeChar | 0o666},
	} {
		if b, ok := ino.data.(bytesContent); ok {
			ino.size = int64(len(b))
		}
		if err := tr.put(p, ino); err != nil {
			t.Fatal(err)
		}
	}
	l, err := layoutOf(tr)
	if err != nil {
		t.Fatal(err)
	}
	if l.Users["munge"] != 105 || l.Users["root"] != 0 || len(l.Users) != 2 || l.Groups["munge"] != 107 {
		t.Errorf("users %v groups %v", l.Users, l.Groups)
	}
	data, err := l.encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.encode()
	if err != nil || !bytes.Equal(data, again) {
		t.Error("the same layout encodes to other bytes")
	}
	back, err := decodeLayout(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Links["sbin"] != "usr/sbin" || !back.isDir("etc") || !back.isDir("dev") || back.Kinds["dev/null"] != kindOther ||
		back.Kinds["etc/passwd"] != kindOther || back.Users["munge"] != 105 || back.Groups["munge"] != 107 || len(back.Kinds) != len(l.Kinds) {
		t.Errorf("decoded %+v, want %+v", back, l)
	}
}

func TestLayoutPlace(t *testing.T) {
	l := &Layout{Links: map[string]string{"sbin": "usr/sbin", "etc/foolink": "foo", "dangling": "/nowhere", "etc/rc": "/sbin"},
		Kinds: map[string]byte{"usr": kindDir, "usr/sbin": kindDir, "etc": kindDir, "etc/foo": kindOther}}
	for _, c := range []struct {
		p    string
		dir  bool
		want string // "" : an error
	}{
		{"sbin/x", false, "usr/sbin/x"},
		{"sbin", true, "usr/sbin"},
		{"sbin", false, ""},                   // a file over a directory's link (merged /usr)
		{"etc/foolink", false, "etc/foolink"}, // a file replaces a file's link, as the overlay says
		{"etc/rc/x", false, "usr/sbin/x"},
		{"etc/foo", false, "etc/foo"},
		{"etc/foo", true, ""},
		{"etc/foo/x", false, ""},
		{"etc/foolink/x", false, ""},
		{"dangling/x", false, ""},
		{"dangling", false, "dangling"},
		{"usr", false, ""},
		{"new/dir/x", false, "new/dir/x"},
	} {
		got, err := l.place(c.p, c.dir)
		if (c.want == "") != (err != nil) || got != c.want {
			t.Errorf("place(%q, dir %v) = %q, %v; want %q", c.p, c.dir, got, err, c.want)
		}
	}
}

// TestImageLayoutFromArtifact: an image recorded without a layout (by an
// older gitboot) is not built again: its layout is read from the image
// artifact, the same as reading the image gives.
func TestImageLayoutFromArtifact(t *testing.T) {
	tc := siteCluster(t, []string{"site"}, nil)
	b := newBuilder(t, t.TempDir())
	r := mustBuild(t, b, tc.build())
	var rec imageRecord
	for _, x := range b.images {
		rec = x
	}
	fromSource := b.layouts[rec.Layout.Hex]
	fromArtifact, err := b.layoutFromArtifact(rec.Image)
	if err != nil {
		t.Fatal(err)
	}
	if fromSource == nil || fmt.Sprint(fromArtifact) != fmt.Sprint(fromSource) {
		t.Errorf("layout from the artifact %v, from the source %v", fromArtifact, fromSource)
	}
	// Forget it, as a manifest of an older gitboot would.
	rec.Layout = ref{}
	b.images[rec.Input] = rec
	tc.fs.(fstest.MapFS)["overlays/site/sbin/bar"] = &fstest.MapFile{Data: []byte("bar"), Mode: 0o755}
	r2 := mustBuild(t, b, tc.build())
	if r2.Images["img"].Rebuilt || r2.Images["img"].Digest != r.Images["img"].Digest {
		t.Error("the image was built again")
	}
	if hdrs, names := cpioHeaders(t, r2.Nodes["n00000"].System.Path); hdrs["usr/sbin/bar"] == nil {
		t.Errorf("not placed on the image's layout: %v", names)
	}
}
