package clio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestExitThroughWrapping(t *testing.T) {
	err := fmt.Errorf("plan: %w", Exit{Code: 2})
	var e Exit
	if !errors.As(err, &e) || e.Code != 2 || e.Error() != "exit status 2" {
		t.Fatalf("errors.As(%v) = %v, code %d", err, errors.As(err, &e), e.Code)
	}
}

func TestIsTerminalAndJSON(t *testing.T) {
	var b bytes.Buffer
	if IsTerminal(&b) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	if err := WriteJSON(&b, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"a\": 1\n}\n" {
		t.Errorf("WriteJSON = %q", b.String())
	}
}

func TestConfirmApplyNeedsTerminal(t *testing.T) {
	var out bytes.Buffer
	ok, err := ConfirmApply(strings.NewReader("yes\n"), &out)
	if ok || err == nil || !strings.Contains(err.Error(), "--auto-approve") {
		t.Fatalf("ConfirmApply from a reader = %v, %v; want a refusal naming --auto-approve", ok, err)
	}
	if out.Len() != 0 {
		t.Errorf("asked anyway: %q", out.String())
	}
}
