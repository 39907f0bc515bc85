package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// The TFTP wire format (RFC 1350) and the options gitboot answers:
// blksize (RFC 2348), tsize and timeout (RFC 2349). Other options, such
// as windowsize (RFC 7440), are left out of the OACK, which tells the
// client they are not in effect (RFC 2347): one block in flight, as PXE
// firmware asks.

// Opcodes.
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// Error codes (RFC 1350 section 5).
const (
	codeUndefined    = 0
	codeNotFound     = 1
	codeAccess       = 2
	defaultBlockSize = 512
	// requestBuffer is the largest request read: a name (at most
	// maxNameLen), a mode and a few options fit many times over.
	requestBuffer = 1024
	// minBlockSize and maxBlockSize bound the blksize answered; a client
	// asking for less than 512 gets the default (RFC 2348 allows 8, no
	// firmware asks for it).
	minBlockSize = 512
	maxBlockSize = 65464
)

// rq is a parsed RRQ or WRQ.
type rq struct {
	op   uint16
	file string
	mode string // as sent; "netascii" in any case converts line ends
	// opts are the options in the order sent, names lower-cased.
	opts []option
}

type option struct{ name, value string }

// errMalformed is a packet that is not a request the listening socket
// takes (counted and logged as a bad packet, never answered).
var errMalformed = errors.New("malformed request")

// parseRequest reads a request: opcode, then NUL-terminated name, mode and
// option pairs. A name without a NUL is malformed; a missing mode is ""
// (octet).
func parseRequest(p []byte) (rq, error) {
	if len(p) < 4 {
		return rq{}, errMalformed
	}
	op := binary.BigEndian.Uint16(p)
	if op != opRRQ && op != opWRQ {
		return rq{}, errMalformed
	}
	fields := bytes.Split(p[2:], []byte{0})
	if len(fields) < 2 {
		return rq{}, errMalformed
	}
	r := rq{op: op, file: string(fields[0]), mode: string(fields[1])}
	for i := 2; i+1 < len(fields); i += 2 {
		r.opts = append(r.opts, option{strings.ToLower(string(fields[i])), string(fields[i+1])})
	}
	return r, nil
}

// netascii reports whether the request asks for line-end conversion.
func (r *rq) netascii() bool { return strings.EqualFold(r.mode, "netascii") }

// negotiated is what a transfer runs with.
type negotiated struct {
	blockSize int
	timeout   int   // seconds; 0: the server's
	tsize     int64 // -1: not answered
	oack      []option
}

// negotiate answers the request's options: blksize capped at maxBlock,
// tsize with the size sent (left out in netascii mode: the size on the
// wire is not the file's), timeout of 1 to 255 seconds. The OACK lists
// only these, in the order the client sent them.
func (r *rq) negotiate(size int64, maxBlock int) negotiated {
	n := negotiated{blockSize: defaultBlockSize, tsize: -1}
	for _, o := range r.opts {
		switch o.name {
		case "blksize":
			v, err := strconv.Atoi(o.value)
			if err != nil || v < minBlockSize || v > maxBlockSize {
				continue
			}
			v = min(v, maxBlock)
			n.blockSize = v
			n.oack = append(n.oack, option{"blksize", strconv.Itoa(v)})
		case "tsize":
			if r.netascii() || size < 0 {
				continue
			}
			n.tsize = size
			n.oack = append(n.oack, option{"tsize", strconv.FormatInt(size, 10)})
		case "timeout":
			v, err := strconv.Atoi(o.value)
			if err != nil || v < 1 || v > 255 {
				continue
			}
			n.timeout = v
			n.oack = append(n.oack, option{"timeout", strconv.Itoa(v)})
		}
	}
	return n
}

// appendOACK appends an OACK packet of opts to b.
func appendOACK(b []byte, opts []option) []byte {
	b = binary.BigEndian.AppendUint16(b, opOACK)
	for _, o := range opts {
		b = append(append(b, o.name...), 0)
		b = append(append(b, o.value...), 0)
	}
	return b
}

// appendError appends an ERROR packet to b.
func appendError(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	if len(msg) > 400 {
		msg = msg[:400]
	}
	return append(append(b, msg...), 0)
}

// errorCode is the code a refusal is sent with.
func errorCode(err error) uint16 {
	switch err {
	case errNotFound:
		return codeNotFound
	case errReadOnly, errEscape, errAbsolute, errBadName, errUnreadable, errNotBootFile:
		return codeAccess
	}
	return codeUndefined
}

// toNetascii converts line ends for netascii mode: LF becomes CR LF, a
// lone CR becomes CR NUL (RFC 764).
func toNetascii(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32)
	for _, c := range b {
		switch c {
		case '\n':
			out = append(out, '\r', '\n')
		case '\r':
			out = append(out, '\r', 0)
		default:
			out = append(out, c)
		}
	}
	return out
}
