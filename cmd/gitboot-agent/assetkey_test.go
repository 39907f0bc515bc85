package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestReadAssetKey(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ content, want string }{
		{"rack7-0042\n", "rack7-0042"},
		{"  \n", ""},
		{"Default string\n", ""},
		{"To Be Filled By O.E.M.\n", ""},
	} {
		p := filepath.Join(dir, "tag")
		os.WriteFile(p, []byte(c.content), 0o644)
		if got := readAssetKey(p); got != c.want {
			t.Errorf("%q: %q, want %q", c.content, got, c.want)
		}
	}
	if got := readAssetKey(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing file: %q", got)
	}
}

// The asset key goes in the header the server checks; none without one.
func TestFetchSendsAssetKey(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get(assetKeyHeader))
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	for _, key := range []string{"rack7-0042", ""} {
		if _, _, _, err := fetch(context.Background(), srv.Client(), srv.URL+"/runtime/x", "\"e\"", key); err == nil {
			t.Fatal("a 304 must be errNotModified")
		}
	}
	if len(got) != 2 || got[0] != "rack7-0042" || got[1] != "" {
		t.Errorf("headers sent: %q", got)
	}
}
