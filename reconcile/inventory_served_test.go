package reconcile

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/bootsvc/status"
)

// getInventory serves GET /inventory (with If-None-Match etag when not
// "") from rec's ServedInventory, as serve wires it.
func getInventory(rec *Reconciler, etag string) *httptest.ResponseRecorder {
	h := httpboot.New(httpboot.Config{Status: status.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Inventory: rec.ServedInventory})
	req := httptest.NewRequest("GET", "/inventory", nil)
	req.RemoteAddr = "10.99.0.77:40000"
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	w := httptest.NewRecorder()
	h.Admin("").ServeHTTP(w, req)
	return w
}

// TestInventoryServedFromFile: GET /inventory serves the state
// directory's inventory file byte for byte, with its Digest as the ETag
// (a 304 for it), read through a descriptor rather than kept in memory;
// a reader that has the previous inventory keeps reading its bytes after
// an apply replaced the file, while new requests get the new one; a
// restarted reconciler serves the file it restored.
func TestInventoryServedFromFile(t *testing.T) {
	e := newRecEnv(t)
	c1 := e.repo.commit(baseFiles(), "first")
	e.mustApply(c1)
	data1, _ := e.inventory()
	enc1 := e.rec.ServedInventory()
	if enc1 == nil {
		t.Fatal("no inventory served after an apply")
	}
	if _, ok := enc1.Content.(*os.File); !ok {
		t.Errorf("the inventory is served from a %T, want the state directory's file", enc1.Content)
	}
	etag1 := `"` + Digest(data1) + `"`
	w := getInventory(e.rec, "")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data1) || w.Header().Get("Etag") != etag1 {
		t.Fatalf("GET /inventory: %d, %d bytes (file %d), ETag %s want %s", w.Code, w.Body.Len(), len(data1), w.Header().Get("Etag"), etag1)
	}
	if w := getInventory(e.rec, etag1); w.Code != 304 || w.Body.Len() != 0 {
		t.Fatalf("If-None-Match the current digest: %d, want 304", w.Code)
	}

	files := edit(t, baseFiles(), "main.hcl", `ip       = "10.99.0.12"`, `ip       = "10.99.0.13"`)
	c2 := e.repo.commit(files, "second")
	e.mustApply(c2)
	data2, _ := e.inventory()
	if bytes.Equal(data1, data2) {
		t.Fatal("a new commit recorded the same inventory")
	}
	if got := readServed(enc1); !bytes.Equal(got, data1) {
		t.Error("a reader of the first inventory reads other bytes after the file was replaced")
	}
	w = getInventory(e.rec, etag1)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data2) || w.Header().Get("Etag") != `"`+Digest(data2)+`"` {
		t.Fatalf("after an apply, If-None-Match the old digest: %d, %d bytes, ETag %s", w.Code, w.Body.Len(), w.Header().Get("Etag"))
	}
	if _, running := e.rec.Running(); !bytes.Equal(running, data2) {
		t.Error("Running's encoding is not the recorded file")
	}

	r2 := e.newReconciler()
	if _, err := r2.Restore(); err != nil {
		t.Fatal(err)
	}
	if w := getInventory(r2, ""); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data2) {
		t.Fatalf("after a restart: %d, %d bytes", w.Code, w.Body.Len())
	}
	if _, ok := r2.ServedInventory().Content.(*os.File); !ok {
		t.Errorf("a restored inventory is served from a %T, want the file", r2.ServedInventory().Content)
	}
}

// TestInventoryServedFromMemory: when the inventory file
// cannot be written, what is served is the running inventory all the
// same (from memory), never the file's older content.
func TestInventoryServedFromMemory(t *testing.T) {
	e := newRecEnv(t)
	e.rec.publish([]byte("{\"x\":1}\n"), false)
	if w := getInventory(e.rec, ""); w.Code != 200 || w.Body.String() != "{\"x\":1}\n" {
		t.Fatalf("in memory: %d %q", w.Code, w.Body.String())
	}
	// onDisk, but the file is not that long: memory, not the file.
	if err := os.WriteFile(filepath.Join(e.state, InventoryFile), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.rec.publish([]byte("{\"x\":2}\n"), true)
	if w := getInventory(e.rec, ""); w.Code != 200 || w.Body.String() != "{\"x\":2}\n" {
		t.Fatalf("file of another size: %d %q", w.Code, w.Body.String())
	}
	if e.rec.publish(nil, false); getInventory(e.rec, "").Code != 503 {
		t.Error("no inventory: not 503")
	}
}
