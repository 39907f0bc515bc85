package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// seedPlans returns real saved plans of cliCluster, as plan --out writes
// them: one against nothing applied, one against a running state.
func seedPlans(tb testing.TB) [][]byte {
	tb.Helper()
	img := filepath.Join(tb.TempDir(), "rocky")
	for p, data := range map[string]string{"boot/vmlinuz-1": "not a kernel\n", "sbin/init": "#!/bin/sh\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(img, p)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, p), []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	desire := func(motd, hash string) *reconcile.Inventory {
		fsys := fstest.MapFS{
			"main.hcl":                  {Data: []byte(cliCluster), Mode: 0o644},
			"overlays/generic/etc/motd": {Data: []byte(motd), Mode: 0o644},
		}
		c, diags := hclspec.Load(fsys, hclspec.Options{Vars: map[string]string{"image": img}})
		if diags.HasErrors() {
			tb.Fatal(diags.Error())
		}
		srv, err := c.PickServer("")
		if err != nil {
			tb.Fatal(err)
		}
		inv, err := reconcile.Desire(&gitsrc.Commit{Hash: hash, Subject: "motd", Author: "t <t@example.com>",
			When: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)}, c, srv, true)
		if err != nil {
			tb.Fatal(err)
		}
		return inv
	}
	running := desire("one\n", strings.Repeat("1", 40))
	runningJSON, err := running.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	desired := desire("two\n", strings.Repeat("2", 40))
	var out [][]byte
	for _, p := range []*reconcile.Plan{reconcile.Diff(nil, desired, ""), reconcile.Diff(running, desired, reconcile.Digest(runningJSON))} {
		data, err := json.Marshal(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append(data, '\n'))
	}
	return out
}

// FuzzDecodePlan: a saved plan file given to gitboot apply is either
// refused with an error or is a plan of this gitboot that can be sent on
// (apply --server marshals it again) and read back.
func FuzzDecodePlan(f *testing.F) {
	for _, s := range seedPlans(f) {
		if _, err := reconcile.DecodePlan(s, "seed"); err != nil {
			f.Fatalf("a real saved plan is refused: %v", err)
		}
		f.Add(s)
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"format_version":"1.0"}`, `{"format_version":"1.0","commit":"x","desired":null}`,
		`{"format_version":"1.0","commit":"x","desired":{}}`, `{"format_version":"2.0","commit":"x","desired":{"version":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := reconcile.DecodePlan(data, "plan.json")
		if err != nil {
			if !strings.Contains(err.Error(), "plan.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p == nil || p.Desired == nil || p.Commit == "" || !strings.HasPrefix(p.FormatVersion, "1.") {
			t.Fatalf("accepted %+v", p)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("a plan read cannot be sent on: %v", err)
		}
		if _, err := reconcile.DecodePlan(again, "plan.json"); err != nil {
			t.Fatalf("a plan read and written again is refused: %v", err)
		}
	})
}
