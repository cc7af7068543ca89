package e2e

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The DNS proxy driven with dig (bind9-dnsutils), as a workload using the
// gateway as its nameserver would.

// digResult is what dig printed.
type digResult struct {
	status  string   // NOERROR, NXDOMAIN, SERVFAIL, REFUSED…
	flags   []string // qr aa rd ra tc…
	answers []string // "name ttl IN TYPE data", whitespace-normalised
	out     string
}

func (r digResult) has(flag string) bool { return slices.Contains(r.flags, flag) }

// ips returns the data of the A/AAAA answers, sorted.
func (r digResult) ips() []string {
	var out []string
	for _, a := range r.answers {
		f := strings.Fields(a)
		if len(f) == 5 && (f[3] == "A" || f[3] == "AAAA") {
			out = append(out, f[4])
		}
	}
	slices.Sort(out)
	return out
}

var (
	digStatus = regexp.MustCompile(`status: ([A-Z]+)`)
	digFlags  = regexp.MustCompile(`;; flags: ([a-z ]+);`)
)

// dig asks the gateway's DNS listener one question.
func dig(t testing.TB, server, name, qtype string, opts ...string) digResult {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	args := append([]string{"@" + host, "-p", port, "+tries=1", "+time=3", "+noall", "+comments", "+answer", name, qtype}, opts...)
	out, serr, code := RunCmd(t, "dig", args...)
	if code != 0 {
		t.Fatalf("dig %s %s %v: exit %d\n%s%s", name, qtype, opts, code, out, serr)
	}
	r := digResult{out: out}
	if m := digStatus.FindStringSubmatch(out); m != nil {
		r.status = m[1]
	}
	if m := digFlags.FindStringSubmatch(out); m != nil {
		r.flags = strings.Fields(m[1])
	}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ";") {
			r.answers = append(r.answers, strings.Join(strings.Fields(l), " "))
		}
	}
	return r
}

func dnsSE(name, hosts, resolution, extra string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: dns}
spec:
  hosts: [%s]
  resolution: %s
  ports: [{number: 443, name: https, protocol: HTTPS}]
%s---
`, name, hosts, resolution, extra)
}

func dnsRegistry() string {
	var big []string
	for i := range 120 {
		big = append(big, fmt.Sprintf("    - address: 10.3.%d.%d", i/250, i%250+1))
	}
	return dnsSE("static", "static.dns.example", "STATIC", "  endpoints:\n  - address: 10.1.0.1\n  - address: 2001:db8::10\n") +
		dnsSE("wild", `"*.wild.dns.example"`, "STATIC", "  endpoints:\n  - address: 10.2.0.1\n") +
		dnsSE("none", `"*.none.dns.example"`, "NONE", "") +
		dnsSE("resolved", "resolved.dns.example", "DNS", "") +
		dnsSE("private", "private.dns.example", "DNS", "") +
		dnsSE("big", "big.dns.example", "STATIC", "  endpoints:\n"+strings.Join(big, "\n")+"\n")
}

func dnsUpstreamRecords() []string {
	return []string{
		"a.none.dns.example. 300 IN A 93.184.216.50",
		"resolved.dns.example. 300 IN A 93.184.216.60",
		"resolved.dns.example. 300 IN AAAA 2606:2800::60",
		"private.dns.example. 300 IN A 10.9.9.9",
		"kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10",
	}
}

type digCase struct {
	name, qtype string
	status      string
	ips         []string
}

func checkDig(t *testing.T, r digResult, c digCase) {
	t.Helper()
	if r.status != c.status {
		t.Fatalf("status %s, want %s\n%s", r.status, c.status, r.out)
	}
	if got := r.ips(); !slices.Equal(got, c.ips) {
		t.Fatalf("answers %v, want %v\n%s", got, c.ips, r.out)
	}
	if len(r.answers) != len(c.ips) {
		t.Fatalf("%d answer records, want %d\n%s", len(r.answers), len(c.ips), r.out)
	}
	for _, a := range r.answers {
		if f := strings.Fields(a); f[0] != dns.Fqdn(c.name) || f[3] == "CNAME" {
			t.Errorf("record %q: want owner %s and no CNAME", a, dns.Fqdn(c.name))
		}
	}
	if c.status == "NOERROR" && !r.has("aa") {
		t.Errorf("declared answer without the aa flag: %v", r.flags)
	}
}

// Declared names answer per dns.answer; other families and types get
// NOERROR with no answer; undeclared names NXDOMAIN and an audit record.
func TestDNSAnswers(t *testing.T) {
	up := startZoneUpstream(t, dnsUpstreamRecords()...)
	modes := []struct {
		mode, config string
		cases        []digCase
	}{
		{"gateway", "dns: {answer: gateway, gateway_addresses: [127.0.0.1], ttl: 20s, upstreams: [" + up.Addr + "]}\n", []digCase{
			{"static.dns.example", "A", "NOERROR", []string{"127.0.0.1"}},
			{"static.dns.example", "AAAA", "NOERROR", nil},
			{"static.dns.example", "MX", "NOERROR", nil},
			{"static.dns.example", "TXT", "NOERROR", nil},
			{"api.wild.dns.example", "A", "NOERROR", []string{"127.0.0.1"}},
			{"a.b.wild.dns.example", "AAAA", "NOERROR", nil},
			{"a.none.dns.example", "A", "NOERROR", []string{"127.0.0.1"}},
			{"wild.dns.example", "A", "NXDOMAIN", nil},
			{"evil.example.org", "A", "NXDOMAIN", nil},
		}},
		{"endpoints", "dns: {answer: endpoints, ttl: 20s, upstreams: [" + up.Addr + "]}\n", []digCase{
			{"static.dns.example", "A", "NOERROR", []string{"10.1.0.1"}},
			{"static.dns.example", "AAAA", "NOERROR", []string{"2001:db8::10"}},
			{"static.dns.example", "SRV", "NOERROR", nil},
			{"api.wild.dns.example", "A", "NOERROR", []string{"10.2.0.1"}},
			{"api.wild.dns.example", "AAAA", "NOERROR", nil},
			{"a.none.dns.example", "A", "NOERROR", []string{"93.184.216.50"}},
			{"resolved.dns.example", "A", "NOERROR", []string{"93.184.216.60"}},
			{"resolved.dns.example", "AAAA", "NOERROR", []string{"2606:2800::60"}},
			// resolution DNS answered with a private address: refused by the resolver.
			{"private.dns.example", "A", "NOERROR", nil},
			{"evil.example.org", "AAAA", "NXDOMAIN", nil},
		}},
	}
	for _, md := range modes {
		g := StartGateway(t, Options{Config: md.config, Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
		for _, c := range md.cases {
			t.Run(md.mode+"/"+c.name+"/"+c.qtype, func(t *testing.T) {
				r := dig(t, g.DNS, c.name, c.qtype)
				checkDig(t, r, c)
				for _, a := range r.answers {
					if f := strings.Fields(a); f[1] != "20" {
						t.Errorf("TTL %s, want dns.ttl 20: %s", f[1], a)
					}
				}
				// The same over TCP.
				checkDig(t, dig(t, g.DNS, c.name, c.qtype, "+tcp"), c)
			})
		}
		// The undeclared queries are recorded.
		rec := waitRecord(t, g, url.Values{"host": {"evil.example.org"}}, "denied DNS query", func(r record) bool {
			return r.str("event") == "dns_query"
		})
		if rec.str("decision") != "deny" || rec.str("reason") != "undeclared_destination" || rec.str("listener") != "dns" ||
			rec.str("kind") != "dns" || rec.str("source_ip") != "127.0.0.1" || (rec.str("method") != "A" && rec.str("method") != "AAAA") {
			t.Errorf("audit record %v", rec)
		}
	}
}

// A flood of one denied query from one source is folded into few records
// with a count; the records name the source's workload from
// identity.sources, as the egress listeners' records do.
func TestDNSDeniedFlood(t *testing.T) {
	up := startZoneUpstream(t)
	cfg := "dns: {upstreams: [" + up.Addr + "]}\nidentity: {sources: [{cidr: 127.0.0.0/8, workload: ci-runner}]}\n"
	g := StartGateway(t, Options{Config: cfg, Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
	for range 20 {
		if r := dig(t, g.DNS, "flood.example.org", "A"); r.status != "NXDOMAIN" {
			t.Fatalf("status %s", r.status)
		}
	}
	// The first query is recorded at once, the 19 repeats within 10 s after.
	Eventually(t, 20*time.Second, "20 queries recorded", func() bool {
		total := 0.0
		for _, r := range records(t, g, url.Values{"host": {"flood.example.org"}}) {
			total += max(r.num("count"), 1)
		}
		return total == 20
	})
	recs := records(t, g, url.Values{"host": {"flood.example.org"}})
	if n := len(recs); n > 3 {
		t.Errorf("%d records for 20 identical queries, want them folded", n)
	}
	for _, r := range recs {
		if r.str("source_workload") != "ci-runner" || r.str("source_identity") != "ci-runner" || r.str("identity_source") != "cidr" {
			t.Errorf("record without the workload of identity.sources: %v", r)
		}
	}
	// Auditors filter DNS denials by workload like any other record.
	if n := len(records(t, g, url.Values{"source": {"ci-runner"}, "event": {"dns_query"}})); n != len(recs) {
		t.Errorf("--source ci-runner finds %d of %d records", n, len(recs))
	}
}

// Names under dns.forward_zones are relayed to the upstreams; SERVFAIL
// when every upstream is down.
func TestDNSForwardZones(t *testing.T) {
	up := startZoneUpstream(t, dnsUpstreamRecords()...)
	cfg := "dns: {forward_zones: [cluster.local], upstreams: [" + up.Addr + "]}\n"
	g := StartGateway(t, Options{Config: cfg, Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
	r := dig(t, g.DNS, "kube-dns.kube-system.svc.cluster.local", "A")
	if r.status != "NOERROR" || !slices.Equal(r.ips(), []string{"10.96.0.10"}) {
		t.Fatalf("forwarded: %s", r.out)
	}
	if r := dig(t, g.DNS, "nothere.svc.cluster.local", "A"); r.status != "NXDOMAIN" {
		t.Fatalf("forwarded NXDOMAIN: %s", r.out)
	}
	if up.queries.Load() < 2 {
		t.Fatalf("the upstream saw %d queries", up.queries.Load())
	}
	// Not an open resolver: names outside the registry and the zones.
	before := up.queries.Load()
	if r := dig(t, g.DNS, "www.example.com", "A"); r.status != "NXDOMAIN" {
		t.Fatalf("undeclared: %s", r.out)
	}
	if up.queries.Load() != before {
		t.Fatal("an undeclared name was forwarded upstream")
	}

	dead := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	g2 := StartGateway(t, Options{Config: "dns: {forward_zones: [cluster.local], timeout: 500ms, upstreams: [" + dead + "]}\n",
		Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
	if r := dig(t, g2.DNS, "kube-dns.kube-system.svc.cluster.local", "A"); r.status != "SERVFAIL" {
		t.Fatalf("upstream down: %s", r.out)
	}
}

// An answer too big for UDP is truncated with TC set; dig +tcp gets it
// whole, and plain dig retries over TCP by itself.
func TestDNSTruncation(t *testing.T) {
	up := startZoneUpstream(t)
	g := StartGateway(t, Options{Config: "dns: {answer: endpoints, upstreams: [" + up.Addr + "]}\n",
		Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
	r := dig(t, g.DNS, "big.dns.example", "A", "+ignore")
	if !r.has("tc") || len(r.answers) >= 120 {
		t.Fatalf("UDP: flags %v, %d records; want tc and fewer than 120\n%s", r.flags, len(r.answers), r.out)
	}
	r = dig(t, g.DNS, "big.dns.example", "A", "+ignore", "+noedns")
	if !r.has("tc") {
		t.Fatalf("UDP without EDNS: flags %v", r.flags)
	}
	r = dig(t, g.DNS, "big.dns.example", "A", "+tcp")
	if r.has("tc") || len(r.answers) != 120 || r.status != "NOERROR" {
		t.Fatalf("TCP: flags %v, %d records; want all 120\n%s", r.flags, len(r.answers), r.out)
	}
	r = dig(t, g.DNS, "big.dns.example", "A") // dig retries over TCP on TC
	if len(r.answers) != 120 {
		t.Fatalf("dig's TCP retry: %d records", len(r.answers))
	}
}

// A registry change (file watcher and SIGHUP) changes the answers without
// a restart.
func TestDNSRegistryReload(t *testing.T) {
	up := startZoneUpstream(t)
	g := StartGateway(t, Options{Config: "dns: {answer: endpoints, upstreams: [" + up.Addr + "]}\n",
		Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
	checkDig(t, dig(t, g.DNS, "static.dns.example", "A"), digCase{"static.dns.example", "A", "NOERROR", []string{"10.1.0.1"}})
	checkDig(t, dig(t, g.DNS, "new.dns.example", "A"), digCase{"new.dns.example", "A", "NXDOMAIN", nil})

	g.WriteRegistry("dns.yaml", strings.Replace(dnsRegistry(), "address: 10.1.0.1", "address: 10.1.0.99", 1)+
		dnsSE("new", "new.dns.example", "STATIC", "  endpoints:\n  - address: 10.7.0.1\n"))
	Eventually(t, 10*time.Second, "the new answers", func() bool {
		return slices.Equal(dig(t, g.DNS, "static.dns.example", "A").ips(), []string{"10.1.0.99"}) &&
			slices.Equal(dig(t, g.DNS, "new.dns.example", "A").ips(), []string{"10.7.0.1"})
	})
	checkDig(t, dig(t, g.DNS, "new.dns.example", "A"), digCase{"new.dns.example", "A", "NOERROR", []string{"10.7.0.1"}})
}

// Zone transfers and other classes are refused; malformed packets get no
// harm done.
func TestDNSProtocolHygiene(t *testing.T) {
	up := startZoneUpstream(t)
	g := StartGateway(t, Options{Config: "dns: {upstreams: [" + up.Addr + "]}\n", Files: map[string]string{"registry/dns.yaml": dnsRegistry()}})
	if r := dig(t, g.DNS, "static.dns.example", "AXFR"); !strings.Contains(r.out, "REFUSED") && !strings.Contains(r.out, "Transfer failed") {
		t.Errorf("AXFR: %s", r.out)
	}
	if r := dig(t, g.DNS, "version.bind", "TXT", "-c", "CH"); r.status != "REFUSED" {
		t.Errorf("CHAOS: %s", r.out)
	}
	conn, err := net.Dial("udp", g.DNS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, pkt := range [][]byte{{1, 2, 3}, []byte(strings.Repeat("\xff", 64)), make([]byte, 12)} {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
	}
	checkDig(t, dig(t, g.DNS, "static.dns.example", "A"), digCase{"static.dns.example", "A", "NOERROR", []string{"127.0.0.1"}})
}
