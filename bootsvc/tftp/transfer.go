package tftp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// source is what a transfer sends: the file's bytes in memory (the boot
// binaries, see contents), or the open file read block by block.
type source struct {
	data []byte
	f    *os.File
	size int64
}

// read fills p with the bytes at off.
func (s *source) read(p []byte, off int64) (int, error) {
	if s.f == nil {
		if off >= int64(len(s.data)) {
			return 0, nil
		}
		return copy(p, s.data[off:]), nil
	}
	n, err := s.f.ReadAt(p, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// clientError is an ERROR packet from the client: it ended the transfer.
type clientError struct {
	block uint16
	code  uint16
	msg   string
}

func (e *clientError) Error() string {
	return fmt.Sprintf("client ended the transfer at block %d: code=%d, error: %s", e.block, e.code, e.msg)
}

var errTimeout = errors.New("no acknowledgement from the client: timed out")

// pooledBlock is the largest block whose packet buffer is pooled: 512 and
// the Ethernet-sized 1,4xx blksizes firmware asks for.
const pooledBlock = 1468

// bufPool holds the packet buffers of transfers of at most pooledBlock: a
// storm of thousands of transfers reuses them instead of allocating each.
var bufPool = sync.Pool{New: func() any { b := make([]byte, pooledBlock+4); return &b }}

// ackBuffer is the room for what a client sends back: an ACK, or an
// ERROR whose message is cut at 124 bytes.
const ackBuffer = 128

// maxBackoff bounds the wait between resends of one packet: the timeout
// doubles after each silent wait, up to this many times the timeout.
const maxBackoff = 4

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
