package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/reconcile"
)

// The running inventory records the --var values it was applied with, and
// plan --server (CI, which has not the server's values) uses them unless
// given: an unchanged repository plans "No changes.".
func TestPlanServerUsesAppliedVars(t *testing.T) {
	e := newCLIEnv(t)
	if code, out, errs := applyWithInput(e, "", "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	inv, data, err := reconcile.ReadInventory(e.state)
	if err != nil || inv.Vars["image"] != e.image {
		t.Fatalf("the inventory's vars: %v %v", inv.Vars, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/inventory":
			w.Write(data)
		case "/check-path":
			kind := "image"
			if r.URL.Query().Has("ipxe_dir") {
				kind = "ipxe_dir"
			}
			json.NewEncoder(w).Encode(httpboot.CheckPathAnswer{Kind: kind, Path: r.URL.Query().Get(kind), Allowed: true})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	plan := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runWith(append([]string{"plan", "--repo", e.repo, "--server", srv.URL}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	// No --var: the server's.
	if code, out, errs := plan(); code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("plan --server without --var: exit %d\n%s%s", code, out, errs)
	}
	// A --var given wins over the server's.
	other := filepath.Join(filepath.Dir(e.image), "other")
	if err := os.Rename(e.image, other); err != nil {
		t.Fatal(err)
	}
	code, out, errs := plan("--var", "image="+other)
	if code != 0 || !strings.Contains(out, "image.rocky") || !strings.Contains(out, other) {
		t.Errorf("plan --server --var image=other: exit %d\n%s%s", code, out, errs)
	}
}

func TestWithRunningVars(t *testing.T) {
	running := &reconcile.Inventory{Vars: map[string]string{"image": "/srv/a", "site": "lab"}}
	got := reconcile.WithRunningVars(map[string]string{"image": "/srv/b"}, running)
	if len(got) != 2 || got["image"] != "/srv/b" || got["site"] != "lab" {
		t.Errorf("got %v", got)
	}
	if got := reconcile.WithRunningVars(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("nothing running: %v", got)
	}
}
