package dnsproxy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
)

// fakeClock is a settable clock for cache tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestResolver(t testing.TB, opts ResolverOptions, ups ...netip.AddrPort) *Resolver {
	t.Helper()
	opts.Upstreams = ups
	if opts.Timeout == 0 {
		opts.Timeout = 300 * time.Millisecond
	}
	if opts.Cache == (config.DNSCache{}) {
		opts.Cache = config.Default().DNS.Cache
	}
	return NewResolver(opts)
}

func TestLookupIP(t *testing.T) {
	up := newUpstream(t)
	up.Add(t,
		"both.example.com. 60 IN A 93.184.216.34",
		"both.example.com. 60 IN AAAA 2606:2800:220:1:248:1893:25c8:1946",
		"v4.example.com. 60 IN A 93.184.216.35",
		"v4.example.com. 60 IN A 93.184.216.36",
		"private.example.com. 60 IN A 10.1.2.3",
		"private.example.com. 60 IN AAAA fd00::1",
		"mixed.example.com. 60 IN A 169.254.169.254",
		"mixed.example.com. 60 IN A 93.184.216.37",
		"alias.example.com. 60 IN CNAME target.example.net.",
		"target.example.net. 60 IN A 93.184.216.38",
		"loopalias.example.com. 60 IN CNAME loopback.example.net.",
		"loopback.example.net. 60 IN A 127.0.0.1",
		"mapped.example.com. 60 IN AAAA ::ffff:10.0.0.1",
		"nodata.example.com. 60 IN TXT hello",
	)
	up.set(func(u *fakeUpstream) { u.nx["nx.example.com."] = true })
	r := newTestResolver(t, ResolverOptions{Guard: &netguard.Guard{}}, up.AddrPort())

	tests := []struct {
		host    string
		want    []string
		wantErr string // "forbidden", "notfound", "upstream"
	}{
		{host: "both.example.com", want: []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"}},
		{host: "BOTH.Example.COM.", want: []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"}},
		{host: "v4.example.com", want: []string{"93.184.216.35", "93.184.216.36"}},
		{host: "private.example.com", wantErr: "forbidden"},
		{host: "mixed.example.com", want: []string{"93.184.216.37"}},
		{host: "alias.example.com", want: []string{"93.184.216.38"}},
		{host: "loopalias.example.com", wantErr: "forbidden"},
		{host: "mapped.example.com", wantErr: "forbidden"},
		{host: "nx.example.com", wantErr: "notfound"},
		{host: "nodata.example.com", wantErr: "notfound"},
		{host: "93.184.216.40", want: []string{"93.184.216.40"}},
		{host: "[2606:2800::1]", want: []string{"2606:2800::1"}},
		{host: "10.0.0.1", wantErr: "forbidden"},
		{host: "", wantErr: "notfound"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := r.LookupIP(context.Background(), tt.host)
			checkLookup(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func checkLookup(t *testing.T, got []netip.Addr, err error, want []string, wantErr string) {
	t.Helper()
	if wantErr != "" {
		var ferr *netguard.ForbiddenError
		ok := false
		switch wantErr {
		case "forbidden":
			ok = errors.As(err, &ferr)
		case "notfound":
			ok = errors.Is(err, ErrNotFound)
		case "upstream":
			ok = errors.Is(err, ErrUpstream)
		}
		if !ok {
			t.Fatalf("got %v, %v; want a %s error", got, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	var gs []string
	for _, a := range got {
		gs = append(gs, a.String())
	}
	if !slices.Equal(gs, want) {
		t.Fatalf("got %v, want %v", gs, want)
	}
}

// A nil guard still refuses the forbidden ranges.
func TestLookupIPNilGuard(t *testing.T) {
	up := newUpstream(t)
	up.Add(t, "private.example.com. 60 IN A 192.168.1.1")
	r := newTestResolver(t, ResolverOptions{}, up.AddrPort())
	_, err := r.LookupIP(context.Background(), "private.example.com")
	var ferr *netguard.ForbiddenError
	if !errors.As(err, &ferr) {
		t.Fatalf("got %v, want ForbiddenError", err)
	}
}

func TestLookupIPFailover(t *testing.T) {
	up := newUpstream(t)
	up.Add(t, "a.example.com. 60 IN A 93.184.216.34")
	silent := newUpstream(t)
	silent.set(func(u *fakeUpstream) { u.silent = true })
	servfail := newUpstream(t)
	servfail.set(func(u *fakeUpstream) { u.rcode = dns.RcodeServerFailure })

	tests := []struct {
		name    string
		ups     []netip.AddrPort
		want    []string
		wantErr string
	}{
		{"first refused port", []netip.AddrPort{deadAddr(t), up.AddrPort()}, []string{"93.184.216.34"}, ""},
		{"first silent", []netip.AddrPort{silent.AddrPort(), up.AddrPort()}, []string{"93.184.216.34"}, ""},
		{"first servfail", []netip.AddrPort{servfail.AddrPort(), up.AddrPort()}, []string{"93.184.216.34"}, ""},
		{"all down", []netip.AddrPort{deadAddr(t), silent.AddrPort(), servfail.AddrPort()}, nil, "upstream"},
		{"none", nil, nil, "upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := ResolverOptions{Timeout: 200 * time.Millisecond, Cache: config.Default().DNS.Cache, Upstreams: tt.ups,
				ResolvConf: filepath.Join(t.TempDir(), "missing")}
			r := NewResolver(opts)
			got, err := r.LookupIP(context.Background(), "a.example.com")
			checkLookup(t, got, err, tt.want, tt.wantErr)
			if tt.wantErr == "" {
				// The upstream that answered is tried first from now on: no timeout.
				start := time.Now()
				r.Flush()
				if _, err := r.LookupIP(context.Background(), "a.example.com"); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > 150*time.Millisecond {
					t.Errorf("second lookup took %v: the failed upstream was tried again first", d)
				}
			}
		})
	}
}

func TestLookupIPTruncatedRetriesTCP(t *testing.T) {
	up := newUpstream(t)
	up.Add(t, "big.example.com. 60 IN A 93.184.216.34")
	up.set(func(u *fakeUpstream) { u.truncUDP = true })
	r := newTestResolver(t, ResolverOptions{}, up.AddrPort())
	got, err := r.LookupIP(context.Background(), "big.example.com")
	checkLookup(t, got, err, []string{"93.184.216.34"}, "")
	if up.tcp.Load() == 0 {
		t.Fatal("no TCP retry after a truncated UDP answer")
	}
}

func TestResolverCacheTTL(t *testing.T) {
	up := newUpstream(t)
	up.Add(t,
		"short.example.com. 1 IN A 93.184.216.34",
		"short.example.com. 1 IN AAAA 2606:2800::1",
		"long.example.com. 86400 IN A 93.184.216.35",
		"long.example.com. 86400 IN AAAA 2606:2800::2",
		"mid.example.com. 60 IN A 93.184.216.36",
		"mid.example.com. 60 IN AAAA 2606:2800::3",
	)
	up.set(func(u *fakeUpstream) {
		u.soa = &dns.SOA{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns: "ns.example.com.", Mbox: "h.example.com.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 600}
		u.nx["nx.example.com."] = true
	})
	cache := config.DNSCache{MinTTL: config.Duration(5 * time.Second), MaxTTL: config.Duration(300 * time.Second),
		NegativeTTL: config.Duration(30 * time.Second), Size: 100}

	tests := []struct {
		host  string
		fresh time.Duration // still cached after this long
		stale time.Duration // asked again after this long
	}{
		{"short.example.com", 4 * time.Second, 6 * time.Second},    // TTL 1 raised to min_ttl 5s
		{"long.example.com", 299 * time.Second, 301 * time.Second}, // TTL 86400 cut to max_ttl 300s
		{"mid.example.com", 59 * time.Second, 61 * time.Second},    // TTL 60 kept
		{"nx.example.com", 29 * time.Second, 31 * time.Second},     // negative: SOA 600 capped by negative_ttl 30s
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			r := newTestResolver(t, ResolverOptions{Cache: cache, Now: clk.Now}, up.AddrPort())
			ask := func() int64 {
				before := up.queries.Load()
				_, _ = r.LookupIP(context.Background(), tt.host)
				return up.queries.Load() - before
			}
			if n := ask(); n != 2 {
				t.Fatalf("first lookup sent %d queries, want 2 (A and AAAA)", n)
			}
			clk.Add(tt.fresh)
			if n := ask(); n != 0 {
				t.Fatalf("after %v: %d upstream queries, want 0 (cached)", tt.fresh, n)
			}
			clk.Add(tt.stale - tt.fresh)
			if n := ask(); n == 0 {
				t.Fatalf("after %v: still cached", tt.stale)
			}
		})
	}
}

func TestResolverNegativeCachingOff(t *testing.T) {
	up := newUpstream(t)
	up.set(func(u *fakeUpstream) { u.nx["nx.example.com."] = true })
	cache := config.DNSCache{MaxTTL: config.Duration(300 * time.Second), Size: 100} // negative_ttl 0
	r := newTestResolver(t, ResolverOptions{Cache: cache}, up.AddrPort())
	for range 2 {
		if _, err := r.LookupIP(context.Background(), "nx.example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	}
	if n := up.queries.Load(); n != 4 {
		t.Fatalf("%d upstream queries, want 4 (nothing cached)", n)
	}
}

// slowResolver returns a resolver whose upstream answers
// slow.example.com (A 93.184.216.34) after 100ms.
func slowResolver(t *testing.T) (*fakeUpstream, *Resolver) {
	t.Helper()
	up := newUpstream(t)
	up.Add(t, "slow.example.com. 60 IN A 93.184.216.34")
	up.set(func(u *fakeUpstream) { u.delay = 100 * time.Millisecond })
	return up, newTestResolver(t, ResolverOptions{}, up.AddrPort())
}

func TestResolverCoalesces(t *testing.T) {
	up, r := slowResolver(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			got, err := r.LookupIP(context.Background(), "slow.example.com")
			if err != nil || len(got) != 1 {
				t.Errorf("got %v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if n := up.queries.Load(); n != 2 {
		t.Fatalf("%d upstream queries for 50 concurrent lookups, want 2 (one A, one AAAA)", n)
	}
}

// A caller that gives up does not cancel the shared exchange for others.
func TestResolverCallerCancel(t *testing.T) {
	_, r := slowResolver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.LookupIP(ctx, "slow.example.com"); !errors.Is(err, ErrUpstream) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUpstream wrapping the deadline", err)
	}
	got, err := r.LookupIP(context.Background(), "slow.example.com")
	checkLookup(t, got, err, []string{"93.184.216.34"}, "")
}

func TestResolverCacheBounded(t *testing.T) {
	c := newCache(10)
	now := time.Unix(0, 0)
	for i := range 100 {
		c.put(cacheKey{name: string(rune('a'+i%26)) + string(rune('a'+i/26)), qtype: 1}, lookupResult{expires: now.Add(time.Hour)}, now)
		if c.len() > 10 {
			t.Fatalf("cache holds %d entries, size 10", c.len())
		}
	}
}

func TestResolvConfUpstreams(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("search example.com\nnameserver 127.0.0.53\nnameserver ::1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := NewResolver(ResolverOptions{ResolvConf: p})
	if got, want := r.Upstreams(), []string{"127.0.0.53:53", "[::1]:53"}; !slices.Equal(got, want) {
		t.Fatalf("upstreams %v, want %v", got, want)
	}
	r = NewResolver(ResolverOptions{ResolvConf: filepath.Join(dir, "missing")})
	if _, err := r.LookupIP(context.Background(), "example.com"); !errors.Is(err, ErrUpstream) {
		t.Fatalf("got %v, want ErrUpstream", err)
	}
}
