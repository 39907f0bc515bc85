package hclspec

import (
	"slices"
	"strings"
	"testing"
)

// TestImagePackingAttributes: platform, exclude and compression decode
// (exclude defaults to boot/*), and their bad values, a malformed
// registry reference and two different digests are diagnostics at the
// attribute.
func TestImagePackingAttributes(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	c := mustLoad(t, mapFS(map[string]string{"main.hcl": `
image "reg" {
  source      = "oci://registry.example:5000/hpc/rocky9:9.4@` + d + `"
  digest      = "` + d + `"
  platform    = "linux/arm64"
  exclude     = ["boot/*", "usr/share/doc"]
  compression = "gzip"
}
image "local" {
  source = "/images/rocky9"
}
`}), Options{})
	reg, _ := c.Image("reg")
	if !IsRegistrySource(reg.Source) || reg.Platform != "linux/arm64" || reg.Compression != CompressionGzip ||
		!slices.Equal(reg.ExcludeGlobs(), []string{"boot/*", "usr/share/doc"}) {
		t.Errorf("reg: %+v", reg)
	}
	local, _ := c.Image("local")
	if !slices.Equal(local.ExcludeGlobs(), DefaultImageExclude) || local.Compression != "" || IsRegistrySource(local.Source) {
		t.Errorf("local: %+v", local)
	}

	for _, tc := range []struct{ attrs, want string }{
		{`source = "/images/x"` + "\n" + `compression = "xz"`, "Invalid compression"},
		{`source = "/images/x"` + "\n" + `platform = "linux/arm64"`, "Platform of a local image"},
		{`source = "oci://r.example/x"` + "\n" + `platform = "arm64"`, "Invalid platform"},
		{`source = "/images/x"` + "\n" + `exclude = ["/boot"]`, "Invalid exclude glob"},
		{`source = "/images/x"` + "\n" + `exclude = ["boot/["]`, "Invalid exclude glob"},
		{`source = "oci://no-repository"`, "Invalid registry image"},
		{`source = "oci://r.example/x@sha256:` + strings.Repeat("b", 64) + `"` + "\n" + `digest = "` + d + `"`, "Two different digests"},
	} {
		_, diags := Load(mapFS(map[string]string{"main.hcl": "image \"x\" {\n" + tc.attrs + "\n}\n"}), Options{})
		found := false
		for _, d := range diags {
			if d.Summary == tc.want && d.Subject != nil && d.Subject.Filename == "main.hcl" && d.Subject.Start.Line >= 2 {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: %v; want %q at its attribute in main.hcl", tc.attrs, diags, tc.want)
		}
	}
}
