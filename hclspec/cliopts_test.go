package hclspec

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestOptionsFor(t *testing.T) {
	opts, err := OptionsFor("examples/lab/", []string{"a=1", "b=x=y"})
	if err != nil || opts.FilePrefix != "examples/lab" || opts.Vars["a"] != "1" || opts.Vars["b"] != "x=y" || opts.Parser == nil {
		t.Fatalf("OptionsFor: %+v, %v", opts, err)
	}
	if opts, _ := OptionsFor(".", nil); opts.FilePrefix != "" {
		t.Fatalf("prefix of .: %q", opts.FilePrefix)
	}
	if _, err := OptionsFor(".", []string{"=1"}); err == nil || !strings.Contains(err.Error(), "expected name=value") {
		t.Fatalf("--var =1: %v", err)
	}
}

func TestAbsRoots(t *testing.T) {
	r, err := AbsRoots([]string{"img"}, []string{"/srv/ipxe"})
	if err != nil || !filepath.IsAbs(r.Images[0]) || filepath.Base(r.Images[0]) != "img" || r.IPXE[0] != "/srv/ipxe" {
		t.Fatalf("AbsRoots: %+v, %v", r, err)
	}
	if _, err := AbsRoots(nil, []string{""}); err == nil || !strings.Contains(err.Error(), "--ipxe-dir: empty directory") {
		t.Fatalf("empty --ipxe-dir: %v", err)
	}
}
