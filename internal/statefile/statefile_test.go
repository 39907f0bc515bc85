package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSetAside(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "status.json")
	if err := os.WriteFile(p, []byte(`{"vers`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	err := fmt.Errorf("opening: %w", Corrupt(p, errors.New("unexpected end of JSON input")))
	if !SetAside(log, err, "status starts empty") {
		t.Fatalf("SetAside(%v) = false", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the damaged file is still in place: %v", err)
	}
	m, _ := filepath.Glob(p + ".corrupt-*")
	if len(m) != 1 {
		t.Fatalf("moved-aside files: %v", m)
	}
	if data, _ := os.ReadFile(m[0]); string(data) != `{"vers` {
		t.Fatalf("moved-aside content %q", data)
	}
	if s := logBuf.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, m[0]) || !strings.Contains(s, "status starts empty") {
		t.Fatalf("log does not say it loudly: %s", s)
	}
	// Any other error is left to the caller.
	if SetAside(log, errors.New("permission denied"), "x") {
		t.Fatal("SetAside took a plain error")
	}
}
