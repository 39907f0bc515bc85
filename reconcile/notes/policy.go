package notes

import (
	"strconv"
	"time"
)

// TypePolicy is the record of a change of a server's signature policy
// (gitboot policy set), written on the commit applied at that time.
const TypePolicy = "policy"

// Policy is the record of who (by, user@host) set the signature policy of
// the state directory state to requireSigned at time at; keys is the
// sha256 of the trusted keys ("" when signatures are not required).
func Policy(state string, at time.Time, requireSigned bool, keys, by string) Record {
	return Record{Type: TypePolicy, Fields: []Field{
		{"state", state},
		{"at", formatTime(at)},
		{"require_signed", strconv.FormatBool(requireSigned)},
		{"trusted_keys_sha256", keys},
		{"by", by},
	}}
}
