package dnsproxy

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpBatch is how many packets one system call reads or writes.
const udpBatch = 32

// batchConn reads and writes several datagrams per system call
// (recvmmsg/sendmmsg on Linux, one at a time elsewhere).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// udpLoop serves one UDP socket bound to a specific address. Unlike
// dns.Server, which starts a goroutine per packet and makes two system
// calls per query, it reads the queued queries in one call, answers in the
// reading goroutine every query that needs no upstream (declared names
// answered from the registry, NXDOMAIN for undeclared ones) — most of them
// straight from the wire (fastAnswer) — and sends those answers in one
// call; only queries that may wait on an upstream (forward zones, names
// resolved in endpoints mode) get a goroutine. See the package README for
// the measurements. Several loops share the port (SO_REUSEPORT), so one
// slow packet does not stall the others.
//
// Wildcard addresses (0.0.0.0, ::) are served by dns.Server instead: it
// reads the destination address of each packet and answers from it.
type udpLoop struct {
	s     *Server
	conn  *net.UDPConn
	bc    batchConn
	local net.Addr
	done  chan struct{}
	// stopping makes the loop return at its next read error.
	stopping atomic.Bool
	// inline is the writer of the query being answered in the loop.
	inline udpWriter
}

func newUDPLoop(s *Server, conn *net.UDPConn) *udpLoop {
	l := &udpLoop{s: s, conn: conn, local: conn.LocalAddr(), done: make(chan struct{})}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		l.bc = ipv6.NewPacketConn(conn)
	} else {
		l.bc = ipv4.NewPacketConn(conn)
	}
	return l
}

// serve reads until the socket is closed.
func (l *udpLoop) serve() {
	defer close(l.done)
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, maxQuerySize)}
		out[i].Buffers = [][]byte{make([]byte, 0, ednsSize)}
	}
	bufs := make([][]byte, udpBatch) // the pack buffers, kept while out[i] points elsewhere
	for i := range out {
		bufs[i] = out[i].Buffers[0]
	}
	for {
		n, err := l.bc.ReadBatch(in, 0)
		if err != nil {
			if l.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. ICMP-reported errors); do not spin.
			time.Sleep(time.Millisecond)
			continue
		}
		k := 0
		for i := range n {
			from, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			if reply := l.handle(in[i].Buffers[0][:in[i].N], from, bufs[k]); reply != nil {
				out[k].Buffers[0], out[k].Addr = reply, from
				k++
			}
		}
		l.flush(out[:k])
	}
}

// flush sends the inline answers, skipping one that fails.
func (l *udpLoop) flush(out []ipv4.Message) {
	for len(out) > 0 {
		n, err := l.bc.WriteBatch(out, 0)
		if err != nil {
			n++ // out[n] failed (e.g. the client's port is closed): skip it
		}
		out = out[min(n, len(out)):]
	}
}

// stop stops reading and waits for the loop to return. The socket stays
// open for the answers of queries handed to goroutines (Server.Shutdown
// waits for them through the in-flight count, then closes it).
func (l *udpLoop) stop() {
	l.stopping.Store(true)
	_ = l.conn.SetReadDeadline(time.Unix(1, 0)) // unblocks ReadBatch
	<-l.done
}

// handle answers one packet. It returns the packed answer (in buf) when
// answered inline, nil when dropped or handed to a goroutine. The
// in-flight slot it takes is held by that goroutine, else freed here.
func (l *udpLoop) handle(b []byte, from *net.UDPAddr, buf []byte) []byte {
	s := l.s
	if !s.acquire() {
		s.metrics.count(resultDropped)
		return nil
	}
	src := from.AddrPort().Addr().Unmap()
	reply, ok := s.fastAnswer(b, src, buf)
	if !ok {
		var spawned bool
		if reply, spawned = l.general(b, from, src, buf); spawned {
			return nil
		}
	}
	s.release()
	return reply
}

// general answers a packet fastAnswer did not take, through dns.Msg. It
// returns the packed answer (in buf) when answered inline, nil when
// dropped, and spawned when a goroutine answers it.
func (l *udpLoop) general(b []byte, from *net.UDPAddr, src netip.Addr, buf []byte) (reply []byte, spawned bool) {
	s := l.s
	if len(b) < 12 {
		s.metrics.count(resultMalformed)
		return nil, false
	}
	action := s.accept(wireHeader(b))
	if action == dns.MsgIgnore {
		return nil, false
	}
	r := new(dns.Msg)
	if err := r.Unpack(b); err != nil {
		// Malformed: dropped without a reply.
		s.metrics.count(resultMalformed)
		return nil, false
	}
	if action == dns.MsgRejectNotImplemented {
		w := &udpWriter{local: l.local, remote: from, buf: buf}
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotImplemented)
		s.send(w, r, m, false)
		return w.packed, false
	}
	rt := s.route(r)
	if s.blocking(&rt) {
		l.spawn(r, rt, from, src)
		return nil, true
	}
	w := &l.inline // the loop's own writer: no allocation per query
	*w = udpWriter{local: l.local, remote: from, buf: buf}
	s.answer(w, r, &rt, false, src)
	return w.packed, false
}

// wireHeader reads the header of a packet of at least 12 bytes.
func wireHeader(b []byte) dns.Header {
	return dns.Header{
		Bits:    binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]),
		Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]),
		Arcount: binary.BigEndian.Uint16(b[10:]),
	}
}

// spawn answers a query that may wait on an upstream in a goroutine,
// which holds the in-flight slot taken by handle.
func (l *udpLoop) spawn(r *dns.Msg, rt route, from *net.UDPAddr, src netip.Addr) {
	w := &udpWriter{conn: l.conn, local: l.local, remote: from}
	go func() {
		defer l.s.release()
		l.s.answer(w, r, &rt, false, src)
	}()
}

// udpWriter is the dns.ResponseWriter of one UDP query read by udpLoop.
// Inline (buf set) it packs the answer into buf for the loop to send with
// the others of the batch; in a goroutine it sends it itself.
type udpWriter struct {
	conn   *net.UDPConn
	local  net.Addr
	remote *net.UDPAddr
	buf    []byte
	packed []byte
}

func (w *udpWriter) LocalAddr() net.Addr  { return w.local }
func (w *udpWriter) RemoteAddr() net.Addr { return w.remote }

// WriteMsg packs m and sends it (or keeps it for the batch).
func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	if w.buf != nil {
		b, err := m.PackBuffer(w.buf[:cap(w.buf)])
		if err != nil {
			return err
		}
		w.packed = b
		return nil
	}
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Write sends one packed message.
func (w *udpWriter) Write(b []byte) (int, error) {
	if w.buf != nil {
		w.packed = append(w.buf[:0], b...)
		return len(b), nil
	}
	return w.conn.WriteToUDP(b, w.remote)
}

// Close is a no-op: the socket is shared.
func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return nil }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}
