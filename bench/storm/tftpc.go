package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// tftpGet fetches file from server:69 as PXE firmware does (blksize 1468,
// tsize asked), from a socket bound to the node's own address. A lost
// packet is answered by resending the last one after 1 s; 5 silent
// seconds in a row end the try. It returns the bytes received.
func tftpGet(local, server net.IP, file string) (int64, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local})
	if err != nil {
		return 0, fmt.Errorf("TFTP socket on %s: %w", local, err)
	}
	defer conn.Close()
	rrq := append([]byte{0, 1}, file...)
	rrq = append(rrq, 0)
	rrq = append(rrq, "octet\x00blksize\x001468\x00tsize\x000\x00"...)
	dst := &net.UDPAddr{IP: server, Port: 69}
	last := rrq
	var peer *net.UDPAddr // the server's transfer port, after the first answer
	blksize := 512
	var want uint16 = 1
	var got int64
	buf := make([]byte, 65536)
	if _, err := conn.WriteToUDP(last, dst); err != nil {
		return 0, err
	}
	silent := 0
	for {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				silent++
				if silent >= 5 {
					return got, fmt.Errorf("TFTP %s: no answer for 5 s at block %d", file, want)
				}
				to := dst
				if peer != nil {
					to = peer
				}
				conn.WriteToUDP(last, to)
				continue
			}
			return got, err
		}
		if n < 4 || (peer != nil && !from.IP.Equal(peer.IP)) || (peer != nil && from.Port != peer.Port) {
			continue
		}
		silent = 0
		op := binary.BigEndian.Uint16(buf)
		switch op {
		case 5: // ERROR
			return got, fmt.Errorf("TFTP %s: error %d: %s", file, binary.BigEndian.Uint16(buf[2:]), cstr(buf[4:n]))
		case 6: // OACK
			if peer == nil {
				peer = from
			}
			opts := parseOpts(buf[2:n])
			if v, err := strconv.Atoi(opts["blksize"]); err == nil {
				blksize = v
			}
			last = []byte{0, 4, 0, 0}
			conn.WriteToUDP(last, peer)
		case 3: // DATA
			if peer == nil {
				peer = from
			}
			block := binary.BigEndian.Uint16(buf[2:])
			if block == want {
				got += int64(n - 4)
				want++
				last = []byte{0, 4, byte(block >> 8), byte(block)}
				conn.WriteToUDP(last, peer)
				if n-4 < blksize {
					return got, nil
				}
			} else {
				conn.WriteToUDP(last, peer) // a duplicate: ack the last one again
			}
		}
	}
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func parseOpts(b []byte) map[string]string {
	m := map[string]string{}
	var parts []string
	start := 0
	for i, c := range b {
		if c == 0 {
			parts = append(parts, string(b[start:i]))
			start = i + 1
		}
	}
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m
}
