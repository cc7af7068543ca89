package dnsproxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/audit"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// A flood of distinct undeclared names from one source writes the first
// foldPerSource records and one "*" record counting the rest, over every
// transport; the counts add up to the queries sent, as do the metrics.
func TestDeniedFloodFolded(t *testing.T) {
	const n = 2000
	for _, tr := range []struct {
		name, network string
		lib           bool
	}{{"udp loop", "udp", false}, {"udp dns.Server", "udp", true}, {"tcp", "tcp", false}} {
		t.Run(tr.name, func(t *testing.T) {
			reg, _ := newRegistry(t, testRegistryYAML())
			rec := &memRecorder{}
			reader := sdkmetric.NewManualReader()
			s := startServerAt(t, ServerOptions{Config: dnsConfig("gateway"), Registry: reg, Recorder: rec,
				MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}, newTestClock(), tr.lib)
			c := &dns.Client{Net: tr.network, Timeout: 3 * time.Second}
			var conn *dns.Conn
			for i := range n {
				if i%100 == 0 { // a new connection now and then: dns.Server serves 128 queries per TCP connection
					if conn != nil {
						conn.Close()
					}
					var err error
					if conn, err = c.Dial(s.Addr()); err != nil {
						t.Fatal(err)
					}
				}
				m := new(dns.Msg).SetQuestion(fmt.Sprintf("n%d.flood.example.org.", i), dns.TypeA)
				r, _, err := c.ExchangeWithConn(m, conn)
				if err != nil || r.Rcode != dns.RcodeNameError {
					t.Fatalf("query %d: %v %v", i, r, err)
				}
			}
			conn.Close()
			if err := s.Shutdown(context.Background()); err != nil { // writes the "*" record
				t.Fatal(err)
			}
			recs := rec.records()
			if len(recs) != foldPerSource+1 {
				t.Fatalf("%d records for %d names, want %d", len(recs), n, foldPerSource+1)
			}
			sum, star := 0, 0
			for _, r := range recs {
				sum += max(r.Count, 1)
				if r.Host == "*" {
					star++
					if r.Count != n-foldPerSource || r.SourceIP != "127.0.0.1" || r.Method != "A" || r.Reason != "undeclared_destination" ||
						!strings.Contains(r.Error, fmt.Sprintf("for %d distinct names", n-foldPerSource)) {
						t.Errorf("\"*\" record %+v", r)
					}
				}
			}
			if sum != n || star != 1 {
				t.Errorf("records count %d queries (%d \"*\" records), want %d", sum, star, n)
			}
			if got := queryCounts(t, reader)["nxdomain"]; got != n {
				t.Errorf("sluice_dns_queries_total{result=nxdomain} = %d, want %d", got, n)
			}
		})
	}
}

// Many sources (as spoofed UDP would give): beyond the window's budget
// one overflow record, without a source, counts the rest.
func TestDeniedManySources(t *testing.T) {
	reg, _ := newRegistry(t, testRegistryYAML())
	rec := &memRecorder{}
	s, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Config: dnsConfig("gateway"), Registry: reg, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	clock := newTestClock()
	s.denied.now = clock.Now
	s.denied.start() // writers only: the UDP loop's handle is driven directly, one source per query
	l := &udpLoop{s: s}
	const n = 3 * foldWindowBudget
	buf := make([]byte, 0, ednsSize)
	for i := range n {
		pkt, _ := new(dns.Msg).SetQuestion(fmt.Sprintf("s%d.flood.example.org.", i%5), dns.TypeAAAA).Pack()
		from := &net.UDPAddr{IP: net.IPv4(10, 9, byte(i>>8), byte(i)), Port: 5353}
		if reply := l.handle(pkt, from, buf); reply == nil {
			t.Fatalf("query %d: no reply", i)
		}
	}
	if err := s.denied.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := rec.records()
	sum := 0
	var over []audit.Record
	for _, r := range recs {
		sum += max(r.Count, 1)
		if r.Host == "*" {
			over = append(over, r)
		}
	}
	if len(recs) != foldWindowBudget+1 || sum != n || len(over) != 1 {
		t.Fatalf("%d records (%d \"*\") counting %d queries; want %d records counting %d", len(recs), len(over), sum, foldWindowBudget+1, n)
	}
	if o := over[0]; o.SourceIP != "" || o.Count != n-foldWindowBudget ||
		!strings.Contains(o.Error, fmt.Sprintf("from %d sources for 5 distinct names", n-foldWindowBudget)) {
		t.Errorf("overflow record %+v", o)
	}
}
