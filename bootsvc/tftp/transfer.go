package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
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
var bufPool = sync.Pool{New: func() any { b := make([]byte, pooledBlock+4+ackBuffer); return &b }}

// ackBuffer is the room for what the client sends back: an ACK, or an
// ERROR whose message is cut at 124 bytes.
const ackBuffer = 128

// transfer sends one file over conn (connected to the client) in lock
// step: each block is sent and sent again every timeout until its ACK
// comes, at most retries times. acked is called once the client has
// acknowledged something (it knows the transfer's port from then on).
type transfer struct {
	conn    *net.UDPConn
	src     source
	neg     negotiated
	timeout time.Duration
	retries int
	acked   func()
	resent  int // packets sent again after a silent timeout
}

// run sends the OACK (when options were answered) and the blocks, and
// returns the bytes of the file sent.
func (t *transfer) run(ctx context.Context) (int64, error) {
	need := t.neg.blockSize + 4 + ackBuffer
	var buf []byte
	if need <= pooledBlock+4+ackBuffer {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf = *bp
	} else {
		buf = make([]byte, need)
	}
	pkt, rcv := buf[:t.neg.blockSize+4], buf[len(buf)-ackBuffer:]
	if len(t.neg.oack) > 0 {
		if err := t.exchange(appendOACK(pkt[:0], t.neg.oack), 0, rcv); err != nil {
			return 0, err
		}
	}
	var sent int64
	for k := int64(1); ; k++ {
		if ctx.Err() != nil {
			t.conn.Write(appendError(pkt[:0], codeUndefined, errShutdown.Error()))
			return sent, errShutdown
		}
		n, err := t.src.read(pkt[4:], sent)
		if err != nil {
			t.conn.Write(appendError(pkt[:0], codeUndefined, "cannot read file"))
			return sent, fmt.Errorf("reading block %d: %w", k, err)
		}
		block := uint16(k) // rolls over to 0 after 65535, as clients expect
		binary.BigEndian.PutUint16(pkt, opDATA)
		binary.BigEndian.PutUint16(pkt[2:], block)
		if err := t.exchange(pkt[:4+n], block, rcv); err != nil {
			return sent, err
		}
		sent += int64(n)
		if n < t.neg.blockSize {
			return sent, nil
		}
	}
}

// maxBackoff bounds the wait between resends of one packet: the timeout
// doubles after each silent wait, up to this many times the timeout.
const maxBackoff = 4

// exchange sends p and waits for the ACK of block, sending p again after
// every silent wait. The wait doubles after each (timeout, 2x, 4x, 4x…),
// as dnsmasq backs off: a client too busy to answer within the timeout
// (thousands of transfers on a loaded machine) is not sent every block
// again each second, which doubled its work and the storm's.
func (t *transfer) exchange(p []byte, block uint16, rcv []byte) error {
	wait := t.timeout
	for try := 0; ; try++ {
		if _, err := t.conn.Write(p); err != nil {
			return fmt.Errorf("sending block %d: %w", block, err)
		}
		t.conn.SetReadDeadline(time.Now().Add(wait))
		wait = min(2*wait, maxBackoff*t.timeout)
		err := t.await(block, rcv)
		if err == nil {
			t.acked()
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if try >= t.retries {
			t.conn.Write(appendError(p[:0], codeUndefined, errTimeout.Error()))
			return fmt.Errorf("block %d: %w", block, errTimeout)
		}
		t.resent++
	}
}

// await reads until the ACK of block (nil), an ERROR from the client, or
// the deadline. Older ACKs are ignored: answering them would send every
// block twice from then on (the sorcerer's apprentice).
func (t *transfer) await(block uint16, rcv []byte) error {
	for {
		n, err := t.conn.Read(rcv)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("block %d: the client's port is closed (it gave up): %w", block, err)
			}
			return err
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(rcv) {
		case opACK:
			if binary.BigEndian.Uint16(rcv[2:]) == block {
				return nil
			}
		case opERROR:
			msg := rcv[4:n]
			if i := indexNUL(msg); i >= 0 {
				msg = msg[:i]
			}
			return &clientError{block: block, code: binary.BigEndian.Uint16(rcv[2:]), msg: string(msg)}
		}
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
