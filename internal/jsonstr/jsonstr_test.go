package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAsEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "a\"quote", "back\\slash", "<html>&", "tab\tnew\nline", "é ü 日本", "\u2028\u2029", "bad\xffutf8", "\x00\x1f\x7f"}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := Append(nil, s); string(got) != string(want) {
			t.Errorf("Append(%q) = %s, want %s", s, got, want)
		}
	}
	for _, l := range [][]string{nil, {}, strs} {
		want, _ := json.Marshal(l)
		if got := AppendList(nil, l); string(got) != string(want) {
			t.Errorf("AppendList(%q) = %s, want %s", l, got, want)
		}
	}
}
