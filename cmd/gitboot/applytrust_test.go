package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitboot/gitboot/internal/tlsca"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// apply --state builds system overlays that carry the state directory's
// CA (and overlay key), as a server on that directory would: the nodes it
// boots can talk to the agents' HTTPS listener from the start.
func TestApplyStateCarriesTrust(t *testing.T) {
	e := newCLIEnv(t)
	if code, out, errs := e.run("apply", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	ca, err := os.ReadFile(filepath.Join(e.state, tlsca.Dir, tlsca.CACertFile))
	if err != nil {
		t.Fatalf("apply --state made no CA: %v", err)
	}
	var withCA int
	filepath.WalkDir(e.state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			return nil
		}
		if bytes.Contains(data, []byte(artifact.CAPath+"\x00")) {
			withCA++
			if !bytes.Contains(data, ca) {
				t.Errorf("%s carries a CA other than the state directory's", p)
			}
		}
		return nil
	})
	if withCA == 0 {
		t.Errorf("no artifact built by apply --state carries /%s", artifact.CAPath)
	}
}
