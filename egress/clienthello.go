package egress

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// readClientHello reads the caller's TLS ClientHello without answering it
// and returns its SNI and every byte read, to be replayed upstream: in
// buf when it is large enough (a pooled buffer, copyBuffers.hello), else
// in a new one. The
// hello may come in any number of reads and TLS records; it is parsed
// by parseClientHello, which accepts what crypto/tls's server accepts up
// to the point where it would pick a configuration (GetConfigForClient).
// crypto/tls's own handshake machinery did this before at ~25 µs and 50
// allocations a hello beyond the read (#18); this is ~1 µs.
func readClientHello(conn net.Conn, timeout time.Duration, buf []byte) (sni string, raw []byte, err error) {
	if timeout > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		defer conn.SetReadDeadline(time.Time{})
	}
	buf = buf[:0]
	if cap(buf) == 0 {
		buf = make([]byte, 0, helloReadSize)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, helloReadSize)...)[:len(buf)]
		}
		n, rerr := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		sni, more, perr := parseClientHello(buf)
		switch {
		case perr != nil:
			return "", buf, perr
		case !more:
			return sni, buf, nil
		case rerr != nil:
			if len(buf) > 0 && errors.Is(rerr, io.EOF) {
				rerr = io.ErrUnexpectedEOF
			}
			return "", buf, fmt.Errorf("reading the ClientHello: %w", rerr)
		}
	}
}

// helloReadSize is the first read's buffer: a ClientHello with a
// post-quantum key share is ~1.5 KiB.
const helloReadSize = 4096
