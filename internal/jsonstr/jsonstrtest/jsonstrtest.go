// Package jsonstrtest makes random strings and string lists for the tests
// that hold a hand-written JSON encoder (internal/jsonstr's users) to
// encoding/json's bytes: plain hex half the time, otherwise one of Odd.
package jsonstrtest

import (
	"fmt"
	"math/rand/v2"
)

// Odd are strings encoding/json quotes in every way it has: empty, quotes,
// backslashes, HTML characters, control characters, non-ASCII, U+2028 and
// U+2029, invalid UTF-8.
var Odd = []string{"", "plain", "a\"quote", "back\\slash", "<html>&", "tab\tnew\nline", "é ü 日本", "\u2028\u2029", "bad\xffutf8", "\x00\x1f"}

// String returns plain hex or one of Odd.
func String(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return fmt.Sprintf("%x", r.Uint64())
	}
	return Odd[r.IntN(len(Odd))]
}

// List returns nil, an empty list, or one to three of String.
func List(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	l := make([]string, 1+r.IntN(3))
	for i := range l {
		l[i] = String(r)
	}
	return l
}
