package dnsproxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/registry"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// benchRegistry declares svc-N.example.com (N < n) as STATIC entries, like
// bench/dns/registry.yaml.
func benchRegistry(b *testing.B, n int) *registry.Registry {
	var sb strings.Builder
	for i := range n {
		sb.WriteString(se(fmt.Sprintf("svc-%d", i), []string{fmt.Sprintf("svc-%d.example.com", i)}, "STATIC",
			endpoints(fmt.Sprintf("127.100.%d.%d", i/256, i%256))))
	}
	reg, _ := newRegistry(b, sb.String())
	return reg
}

func benchServer(b *testing.B) *Server {
	cfg := dnsConfig("endpoints", deadAddr(b).String())
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	s, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Config: cfg, Registry: benchRegistry(b, 1000),
		MeterProvider: mp, Recorder: &memRecorder{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkServeDNS is the handler alone (declared name, endpoints mode,
// reply packed), without sockets.
func BenchmarkServeDNS(b *testing.B) {
	s := benchServer(b)
	msgs := make([]*dns.Msg, 1000)
	for i := range msgs {
		msgs[i] = new(dns.Msg).SetQuestion(fmt.Sprintf("svc-%d.example.com.", i), dns.TypeA)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var i int
	for b.Loop() {
		w := &fakeWriter{}
		s.ServeDNS(w, msgs[i%1000])
		if w.msg == nil || len(w.msg.Answer) != 1 {
			b.Fatal("no answer")
		}
		i++
	}
}

// BenchmarkServeDNSUndeclared is the NXDOMAIN path with a folded audit
// record (same source, name and type).
func BenchmarkServeDNSUndeclared(b *testing.B) {
	s := benchServer(b)
	m := new(dns.Msg).SetQuestion("evil.example.org.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeDNS(&fakeWriter{}, m)
	}
}

// BenchmarkUDP is the whole server over loopback UDP with parallel
// clients, each a connected socket with one query outstanding.
func BenchmarkUDP(b *testing.B) {
	for _, socks := range []int{1, 2} {
		b.Run(fmt.Sprintf("sockets=%d", socks), func(b *testing.B) {
			s := benchServer(b)
			s.udpSockets = socks
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
				conn, err := c.Dial(s.Addr())
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				for pb.Next() {
					n := next.Add(1) % 1000
					m := new(dns.Msg).SetQuestion(fmt.Sprintf("svc-%d.example.com.", n), dns.TypeA)
					r, _, err := c.ExchangeWithConn(m, conn)
					if err != nil || len(r.Answer) != 1 {
						b.Errorf("svc-%d: %v %v", n, r, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkUDPHandle is one packet through the UDP loop's inline path:
// header check, unpack, route, answer, pack (no system calls).
func BenchmarkUDPHandle(b *testing.B) {
	s := benchServer(b)
	l := &udpLoop{s: s}
	pkts := make([][]byte, 1000)
	for i := range pkts {
		pkts[i], _ = new(dns.Msg).SetQuestion(fmt.Sprintf("svc-%d.example.com.", i), dns.TypeA).Pack()
	}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	buf := make([]byte, 0, ednsSize)
	b.ReportAllocs()
	var i int
	for b.Loop() {
		if l.handle(pkts[i%1000], from, buf) == nil {
			b.Fatal("no answer")
		}
		i++
	}
}

// BenchmarkUDPHandleUndeclared is the UDP loop's path for a refused name
// repeated by one source: fast path, NXDOMAIN, a folded repeat.
func BenchmarkUDPHandleUndeclared(b *testing.B) {
	s := benchServer(b)
	l := &udpLoop{s: s}
	pkt, _ := new(dns.Msg).SetQuestion("evil.example.org.", dns.TypeA).Pack()
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	buf := make([]byte, 0, ednsSize)
	b.ReportAllocs()
	for b.Loop() {
		if l.handle(pkt, from, buf) == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkUDPHandleFlood is a flood of distinct refused names from one
// source (1,000 names in turn): past the source's records of its own,
// each query is counted in its "*" record.
func BenchmarkUDPHandleFlood(b *testing.B) {
	s := benchServer(b)
	l := &udpLoop{s: s}
	pkts := make([][]byte, 1000)
	for i := range pkts {
		pkts[i], _ = new(dns.Msg).SetQuestion(fmt.Sprintf("n%d.flood.example.org.", i), dns.TypeA).Pack()
	}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	buf := make([]byte, 0, ednsSize)
	b.ReportAllocs()
	var i int
	for b.Loop() {
		if l.handle(pkts[i%1000], from, buf) == nil {
			b.Fatal("no answer")
		}
		i++
	}
}
