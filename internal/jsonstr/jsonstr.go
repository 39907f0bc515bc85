// Package jsonstr appends JSON strings exactly as encoding/json writes
// them, without reflection: for the hand-written encoders of large
// documents (inventory.json's nodes, the cluster hash) whose bytes must
// stay encoding/json's.
package jsonstr

import "encoding/json"

// Append appends s quoted as json.Marshal quotes it: plain printable
// ASCII is copied; anything else goes through encoding/json (which
// escapes HTML characters, invalid UTF-8, U+2028 and U+2029).
func Append(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendList appends l as json.Marshal writes a []string: null when nil.
func AppendList(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = Append(b, s)
	}
	return append(b, ']')
}
