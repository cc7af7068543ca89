package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The DNS proxy under floods of names and odd spellings of names: the
// real binary, driven with dig (and with miekg/dns where dig will not
// send the bytes), its records read back with `sluice audit query`.

// dnsFoldWindow is the gateway's fold window of refused queries
// (dnsproxy.DefaultFoldWindow): windows are [k·w, (k+1)·w) of wall-clock
// time (dnsproxy/README.md, "Records of refused queries").
const dnsFoldWindow = 10 * time.Second

// dnsPerSource is how many distinct names per source and window get
// records of their own; the rest are one "*" record.
const dnsPerSource = 8

// dnsWindowBudget bounds the records of a window across all sources;
// beyond it one overflow record (host "*", no source) counts the rest.
const dnsWindowBudget = 1024

// waitForFreshWindow sleeps into the next fold window when less than
// need is left of the current one, so a burst normally falls in one
// window (the tests check their bounds per window, so they hold either
// way).
func waitForFreshWindow(need time.Duration) {
	if left := dnsFoldWindow - time.Duration(time.Now().UnixNano()%int64(dnsFoldWindow)); left < need {
		time.Sleep(left + 100*time.Millisecond)
	}
}

// byWindow groups records by the fold window of their time_start.
func byWindow(t *testing.T, recs []record) map[int64][]record {
	t.Helper()
	out := map[int64][]record{}
	for _, r := range recs {
		ts, err := time.Parse(time.RFC3339Nano, r.str("time_start"))
		if err != nil {
			t.Fatalf("time_start %q: %v", r.str("time_start"), err)
		}
		w := ts.UnixNano() / int64(dnsFoldWindow)
		out[w] = append(out[w], r)
	}
	return out
}

// hardenedGateway serves partner.test and xn--bcher-kva.test (bücher.test)
// in endpoints mode.
func hardenedGateway(t *testing.T) *Gateway {
	t.Helper()
	up := startZoneUpstream(t)
	reg := dnsSE("partner", "partner.test", "STATIC", "  endpoints:\n  - address: 10.20.0.1\n") +
		dnsSE("idn", "xn--bcher-kva.test", "STATIC", "  endpoints:\n  - address: 10.20.0.2\n")
	return StartGateway(t, Options{Config: "dns: {answer: endpoints, upstreams: [" + up.Addr + "]}\n",
		Files: map[string]string{"registry/dns.yaml": reg}})
}

// refusedDNS reads the refused DNS queries back with
// `sluice audit query --decision deny --format json`.
func refusedDNS(t *testing.T, g *Gateway) []record {
	t.Helper()
	recs, _ := queryRecords(t, g, "-c", g.Config, "--decision", "deny")
	var out []record
	for _, r := range recs {
		if r.str("event") == "dns_query" {
			out = append(out, r)
		}
	}
	return out
}

// pollRecords reads the refused DNS queries every 250 ms until cond
// holds for them, failing after d.
func pollRecords(t *testing.T, g *Gateway, d time.Duration, what string, cond func([]record) bool) []record {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		recs := refusedDNS(t, g)
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; records:\n%v", d, what, recs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// queries is what the records count (count absent means one).
func queries(recs []record) int {
	n := 0
	for _, r := range recs {
		n += int(max(r.num("count"), 1))
	}
	return n
}

// A flood of 2,000 distinct undeclared names from one source writes a
// bounded number of records (per window: 8 of their own and one "*"),
// whose counts add up to the 2,000 queries.
func TestDNSHardeningFloodIsFolded(t *testing.T) {
	const n = 2000
	g := hardenedGateway(t)
	waitForFreshWindow(4 * time.Second)
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, "n%d.flood.example.org A\n", i)
	}
	file := filepath.Join(t.TempDir(), "flood.txt")
	WriteFile(t, file, batch.String())
	host, port, _ := net.SplitHostPort(g.DNS)
	out, serr, code := RunCmd(t, "dig", "@"+host, "-p", port, "+tries=1", "+time=3", "+noall", "+comments", "-f", file)
	if code != 0 {
		t.Fatalf("dig -f: exit %d\n%s", code, serr)
	}
	if got := strings.Count(out, "status: NXDOMAIN"); got != n {
		t.Fatalf("%d NXDOMAIN answers, want %d", got, n)
	}

	// The "*" record is written when its window ends.
	recs := pollRecords(t, g, 3*dnsFoldWindow, "records counting the 2,000 queries", func(rs []record) bool { return queries(rs) >= n })
	if got := queries(recs); got != n {
		t.Fatalf("the records count %d queries, %d were sent", got, n)
	}
	windows := byWindow(t, recs)
	for w, rs := range windows {
		stars := 0
		for _, r := range rs {
			if r.str("source_ip") != "127.0.0.1" || r.str("reason") != "undeclared_destination" || r.str("method") != "A" {
				t.Errorf("record %v", r)
			}
			switch h := r.str("host"); {
			case h == "*":
				stars++
				if !contains(r.str("error"), "distinct names beyond the 8", `.flood.example.org A"`) {
					t.Errorf("\"*\" record without what it folded: %v", r)
				}
			case !strings.HasSuffix(h, ".flood.example.org") || r.num("count") > 1:
				t.Errorf("record %v", r)
			}
		}
		if len(rs) > dnsPerSource+1 || stars != 1 {
			t.Errorf("window %d: %d records, %d of them \"*\"; want at most %d, one \"*\"", w, len(rs), stars, dnsPerSource+1)
		}
	}
	t.Logf("%d distinct names → %d records in %d window(s)", n, len(recs), len(windows))
}

// A flood from many sources (UDP sources can be spoofed; here 1,500
// loopback addresses, one query each): per window at most the budget of
// records of their own and one overflow record without a source, whose
// counts add up to the queries.
func TestDNSHardeningManySources(t *testing.T) {
	const n = 1500
	g := hardenedGateway(t)
	to, err := net.ResolveUDPAddr("udp", g.DNS)
	if err != nil {
		t.Fatal(err)
	}
	waitForFreshWindow(6 * time.Second)
	for i := range n {
		src := fmt.Sprintf("127.1.%d.%d", i>>8, i&255)
		r := exchangeFrom(t, to.String(), src, mustPack(t, fmt.Sprintf("m%d.spoofed.example.org.", i%50)))
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("query %d: %s", i, dns.RcodeToString[r.Rcode])
		}
	}
	recs := pollRecords(t, g, 3*dnsFoldWindow, "records counting the queries", func(rs []record) bool { return queries(rs) >= n })
	if got := queries(recs); got != n {
		t.Fatalf("the records count %d queries, %d were sent", got, n)
	}
	windows := byWindow(t, recs)
	for w, rs := range windows {
		var over []record
		for _, r := range rs {
			if r.str("host") == "*" {
				over = append(over, r)
			}
		}
		if len(rs) > dnsWindowBudget+1 || len(over) > 1 {
			t.Errorf("window %d: %d records, %d of them \"*\"; want at most %d, one \"*\"", w, len(rs), len(over), dnsWindowBudget+1)
		}
		for _, o := range over {
			if o.str("source_ip") != "" || !contains(o.str("error"), "queries from ", "spoofed.example.org A", "beyond the window's budget of 1024 records") {
				t.Errorf("overflow record %v", o)
			}
		}
	}
	if len(windows) == 1 && len(recs) != dnsWindowBudget+1 {
		t.Errorf("%d records in one window, want %d", len(recs), dnsWindowBudget+1)
	}
	t.Logf("%d sources → %d records in %d window(s)", n, len(recs), len(windows))
}

// digFrom asks the gateway one A question with dig from source address
// src (a loopback address: one source per case, so no case is folded
// into another's "*" record). The name is given with -q, so a name
// starting with '-' is not read as an option.
func digFrom(t *testing.T, server, src, name string) digResult {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	out, serr, code := RunCmd(t, "dig", "@"+host, "-p", port, "-b", src, "+tries=1", "+time=3", "+noall", "+comments",
		"+answer", "+noidnin", "+noidnout", "-q", name, "-t", "A")
	if code != 0 {
		t.Fatalf("dig %s: exit %d\n%s%s", name, code, out, serr)
	}
	r := digResult{out: out}
	if m := digStatus.FindStringSubmatch(out); m != nil {
		r.status = m[1]
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ";") {
			r.answers = append(r.answers, strings.Join(strings.Fields(l), " "))
		}
	}
	return r
}

// exchangeFrom sends the packet pkt over UDP from src and returns the
// reply.
func exchangeFrom(t *testing.T, server, src string, pkt []byte) *dns.Msg {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, to)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no reply from %s: %v", server, err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return m
}

// naiveQuery is a query for name as a naive encoder writes it: split at
// every dot, each part a label, so "partner.test.." has an empty label
// (the zero byte that ends a name) before its end.
func naiveQuery(name string, qtype uint16) []byte {
	b := []byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, dns.ClassINET)
}

// Spellings of names: case and A-labels reach the declared answer; a name
// that is not a host name — escapes, an invalid A-label, a '-' edge, an
// address, a numeric last label, a label holding a dot — gets NXDOMAIN
// and a bad_request record under the name as sent; an undeclared name in
// upper case is recorded under its canonical name.
func TestDNSHardeningNameSpellings(t *testing.T) {
	g := hardenedGateway(t)
	type want struct {
		status string
		ips    []string
		// host is as stored: the canonical name, or the name as sent in
		// presentation form (escapes and the root's final dot kept): the
		// audit store records the host exactly as the DNS proxy gives it.
		host   string // "" for no record
		reason string
	}
	cases := []struct {
		desc string
		name string // sent with dig
		pkt  []byte // or these bytes, with miekg/dns (dig will not send them)
		want want
	}{
		{"a declared name in upper case", "PARTNER.TEST.", nil, want{"NOERROR", []string{"10.20.0.1"}, "", ""}},
		{"a declared A-label in upper case", "XN--BCHER-KVA.TEST.", nil, want{"NOERROR", []string{"10.20.0.2"}, "", ""}},
		{"an undeclared name in mixed case", "Partner.Example.", nil, want{"NXDOMAIN", nil, "partner.example", "undeclared_destination"}},
		{"an escaped dot", `a\.b.test`, nil, want{"NXDOMAIN", nil, `a\.b.test.`, "bad_request"}},
		{"the declared name as one label", `partner\.test`, nil, want{"NXDOMAIN", nil, `partner\.test.`, "bad_request"}},
		{"an invalid A-label", "xn--a.test", nil, want{"NXDOMAIN", nil, "xn--a.test.", "bad_request"}},
		{"a label starting with '-'", "-partner.test", nil, want{"NXDOMAIN", nil, "-partner.test.", "bad_request"}},
		{"an address as a name", "10.20.0.1.", nil, want{"NXDOMAIN", nil, "10.20.0.1.", "bad_request"}},
		{"a numeric last label", "partner.123", nil, want{"NXDOMAIN", nil, "partner.123.", "bad_request"}},
		{"partner.test.. as one label test. (miekg/dns)", "", mustPack(t, `partner.test\..`),
			want{"NXDOMAIN", nil, `partner.test\..`, "bad_request"}},
		// "partner.test.." encoded naively ends the name early: the bytes
		// after it are read as type 0 and class 256, which is refused;
		// never partner.test's answer.
		{"partner.test.. encoded naively (raw bytes)", "", naiveQuery("partner.test..", dns.TypeA), want{"REFUSED", nil, "", ""}},
	}
	// dig itself refuses to send an empty label.
	host, port, _ := net.SplitHostPort(g.DNS)
	if out, serr, code := RunCmd(t, "dig", "@"+host, "-p", port, "+tries=1", "+time=3", "partner.test..", "A"); code == 0 ||
		!strings.Contains(out+serr, "empty label") {
		t.Fatalf("dig sent partner.test..: exit %d\n%s%s", code, out, serr)
	}
	expected := map[string]want{} // by source address
	for i, c := range cases {
		src := fmt.Sprintf("127.0.0.%d", 20+i)
		expected[src] = c.want
		var status string
		var ips []string
		if c.pkt == nil {
			r := digFrom(t, g.DNS, src, c.name)
			status, ips = r.status, r.ips()
			if len(r.answers) != len(r.ips()) {
				t.Errorf("%s: answers %v", c.desc, r.answers)
			}
		} else {
			r := exchangeFrom(t, g.DNS, src, c.pkt)
			status = dns.RcodeToString[r.Rcode]
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					ips = append(ips, a.A.String())
				}
			}
		}
		if status != c.want.status || !slices.Equal(ips, c.want.ips) {
			t.Errorf("%s: %s %v, want %s %v", c.desc, status, ips, c.want.status, c.want.ips)
		}
	}

	refusals := 0
	for _, w := range expected {
		if w.host != "" {
			refusals++
		}
	}
	recs := pollRecords(t, g, 20*time.Second, "a record of every refusal", func(rs []record) bool { return len(rs) >= refusals })
	if len(recs) != refusals {
		t.Errorf("%d records, want %d:\n%v", len(recs), refusals, recs)
	}
	for _, r := range recs {
		w, ok := expected[r.str("source_ip")]
		if !ok || w.host == "" {
			t.Errorf("a record for a query that was not refused: %v", r)
			continue
		}
		if r.str("host") != w.host || r.str("reason") != w.reason || r.str("method") != "A" || r.num("count") > 1 ||
			r.str("listener") != "dns" || r.str("decision") != "deny" {
			t.Errorf("record %v; want host %q, reason %s", r, w.host, w.reason)
		}
		if w.reason == "bad_request" && !strings.Contains(r.str("error"), "invalid host") {
			t.Errorf("bad_request record without canon's reason: %v", r)
		}
	}
	// The refusals are found by reason, as auditors look for them.
	if bad, _ := queryRecords(t, g, "-c", g.Config, "--decision", "deny", "--reason", "bad_request"); len(bad) != refusals-1 {
		t.Errorf("--reason bad_request finds %d records, want %d", len(bad), refusals-1)
	}
}

// mustPack packs an A query for name (presentation form).
func mustPack(t *testing.T, name string) []byte {
	t.Helper()
	b, err := new(dns.Msg).SetQuestion(name, dns.TypeA).Pack()
	if err != nil {
		t.Fatalf("pack %q: %v", name, err)
	}
	return b
}
