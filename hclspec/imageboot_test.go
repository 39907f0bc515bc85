package hclspec

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseByteSize(t *testing.T) {
	good := map[string]int64{"1GiB": 1 << 30, "700MiB": 700 << 20, "700M": 700 << 20, "4096": 4096, "2g": 2 << 30, "1 TiB": 1 << 40, "10KB": 10 << 10, "5B": 5}
	for in, want := range good {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "0", "-1G", "1.5G", "1PiB", "1 gigs", "99999999999999999G", "1iB"} {
		if n, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, n)
		}
	}
}

func TestImageBootAttributes(t *testing.T) {
	c := mustLoad(t, fstest.MapFS{"cluster.hcl": {Data: []byte(`
image "big" {
  source = "/srv/images/big"
  boot = "two-stage"
  stage_one_modules = ["virtio_net", "e1000e"]
}
image "auto" {
  source = "/srv/images/auto"
  two_stage_above = "700MiB"
}
image "small" {
  source = "/srv/images/small"
  boot = "one-stage"
}
`)}}, Options{})
	big, _ := c.Image("big")
	if !big.TwoStage(0) || strings.Join(big.StageOneModules, ",") != "virtio_net,e1000e" {
		t.Errorf("big: boot %q modules %v", big.Boot, big.StageOneModules)
	}
	auto, _ := c.Image("auto")
	if auto.TwoStage(700<<20) || !auto.TwoStage(700<<20+1) {
		t.Errorf("auto: threshold %d not honoured", auto.TwoStageAbove)
	}
	small, _ := c.Image("small")
	if small.TwoStage(8 << 30) {
		t.Error("small: one-stage image boots two-stage")
	}
	var def Image
	if def.TwoStage(1<<30) || !def.TwoStage(1<<30+1) {
		t.Error("an image without boot attributes is not two-stage above 1 GiB only")
	}
}

func TestImageBootErrors(t *testing.T) {
	for _, tc := range []struct{ attr, want string }{
		{`boot = "three-stage"`, `boot of image "x" must be`},
		{`two_stage_above = "lots"`, "Invalid two_stage_above"},
		{`stage_one_modules = ["virtio net"]`, "not a kernel module name"},
	} {
		_, d := Load(fstest.MapFS{"cluster.hcl": {Data: []byte("image \"x\" {\n  source = \"/srv/x\"\n  " + tc.attr + "\n}\n")}}, Options{})
		var diags string
		for _, x := range d {
			if x.Subject != nil {
				diags += fmt.Sprintf("%s:%d: %s: %s\n", x.Subject.Filename, x.Subject.Start.Line, x.Summary, x.Detail)
			}
		}
		if !strings.Contains(diags, tc.want) || !strings.Contains(diags, "cluster.hcl:3") {
			t.Errorf("%s: diagnostics %q, want %q at cluster.hcl:3", tc.attr, diags, tc.want)
		}
	}
}
