package githook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
)

func TestShQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", `a "b" $c \d`, "'", "x'y'z", "new\nline", "`cmd`"} {
		out, err := exec.Command("sh", "-c", "printf %s "+ShQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh read %s as %q (%v), want %q", ShQuote(s), out, err, s)
		}
	}
}

func TestPoke(t *testing.T) {
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/reconcile" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := Poke(ctx, srv.URL+"/"); err != nil {
		t.Errorf("202: %v", err)
	}
	status = http.StatusForbidden
	var se PokeStatusError
	if err := Poke(ctx, srv.URL); !errors.As(err, &se) {
		t.Errorf("403: %v, want a PokeStatusError", err)
	}
}
