package lb

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

func three() []Endpoint {
	return []Endpoint{{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.2:1"}, {Addr: "127.0.0.3:1"}}
}

// clock is a settable time for ejection tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestChooseSpreads(t *testing.T) {
	tests := []struct {
		name  string
		alg   string
		cands []Endpoint
		want  []int // calls per endpoint out of 600
	}{
		{"round robin", RoundRobin, three(), []int{200, 200, 200}},
		{"weighted round robin", RoundRobin, []Endpoint{{"a", 1}, {"b", 2}, {"c", 3}}, []int{100, 200, 300}},
		{"least request, all idle", LeastRequest, three(), []int{200, 200, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCluster("x", Config{LB: LBConfig{Algorithm: tc.alg}}, nil)
			got := make([]int, len(tc.cands))
			for range 600 {
				p, err := c.Choose(tc.cands, "")
				if err != nil {
					t.Fatal(err)
				}
				got[p.Index]++
				c.Done(p, Outcome{Status: 200})
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("spread %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestLeastRequestAvoidsBusy(t *testing.T) {
	c := NewCluster("x", Config{}, nil)
	busy, _ := c.Choose(three(), "") // stays in flight
	for range 20 {
		p, _ := c.Choose(three(), "")
		if p.Index == busy.Index {
			t.Fatalf("picked the busy endpoint %d", p.Index)
		}
		c.Done(p, Outcome{Status: 200})
	}
}

func TestHashPins(t *testing.T) {
	c := NewCluster("x", Config{LB: LBConfig{Algorithm: Hash, HashHeader: "x-user"}}, nil)
	seen := map[int]bool{}
	for u := range 50 {
		key := "user-" + strconv.Itoa(u)
		first, _ := c.Choose(three(), key)
		c.Done(first, Outcome{Status: 200})
		seen[first.Index] = true
		for range 5 {
			p, _ := c.Choose(three(), key)
			c.Done(p, Outcome{Status: 200})
			if p.Index != first.Index {
				t.Fatalf("%s moved from %d to %d", key, first.Index, p.Index)
			}
		}
	}
	if len(seen) != 3 {
		t.Fatalf("50 keys used endpoints %v, want all three", seen)
	}
}

func TestOutlierEjectsAndReturns(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	cfg := Config{LB: LBConfig{Algorithm: RoundRobin}, Outlier: OutlierConfig{Enabled: true, Consecutive5xx: 3,
		Interval: time.Second, BaseEjectionTime: 5 * time.Second, MaxEjectionPercent: 100}}
	c := NewCluster("x", cfg, clk.now)
	// Endpoint 0 fails every call.
	call := func() int {
		p, err := c.Choose(three(), "")
		if err != nil {
			t.Fatal(err)
		}
		st := 200
		if p.Index == 0 {
			st = 503
		}
		c.Done(p, Outcome{Status: st})
		return p.Index
	}
	for range 9 {
		call()
	}
	if s := c.Status(); s.Ejected != 1 || !s.Endpoints[0].Ejected {
		t.Fatalf("after 3 failures: %+v", s)
	}
	for range 10 {
		if call() == 0 {
			t.Fatal("ejected endpoint chosen")
		}
	}
	clk.t = clk.t.Add(5 * time.Second)
	hit := false
	for range 3 {
		hit = hit || call() == 0
	}
	if !hit {
		t.Fatal("endpoint did not return after baseEjectionTime")
	}
}

func TestMaxEjectionPercentAndPanic(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	base := OutlierConfig{Enabled: true, Consecutive5xx: 1, BaseEjectionTime: time.Minute}
	fail := func(c *Cluster, idx int) {
		for range 10 {
			p, err := c.Choose(three(), "")
			if err != nil {
				return
			}
			st := 200
			if p.Index == idx || idx < 0 {
				st = 500
			}
			c.Done(p, Outcome{Status: st})
		}
	}
	// 10% of three: still one may go, not two.
	c := NewCluster("x", Config{LB: LBConfig{Algorithm: RoundRobin}, Outlier: func() OutlierConfig { o := base; o.MaxEjectionPercent = 10; return o }()}, clk.now)
	fail(c, -1)
	if got := c.Status().Ejected; got != 1 {
		t.Fatalf("maxEjectionPercent 10: %d ejected, want 1", got)
	}
	// Everything out, minHealthPercent 50: panic mode uses all three.
	o := base
	o.MaxEjectionPercent, o.MinHealthPercent = 100, 50
	c = NewCluster("y", Config{LB: LBConfig{Algorithm: RoundRobin}, Outlier: o}, clk.now)
	fail(c, -1)
	p, err := c.Choose(three(), "")
	if err != nil || !p.Panic {
		t.Fatalf("want a panic-mode pick, got %+v %v", p, err)
	}
	// Without panic mode, all ejected is no healthy upstream.
	o.MinHealthPercent = 0
	c = NewCluster("z", Config{LB: LBConfig{Algorithm: RoundRobin}, Outlier: o}, clk.now)
	fail(c, -1)
	if _, err := c.Choose(three(), ""); !errors.Is(err, ErrNoHealthy) {
		t.Fatalf("want ErrNoHealthy, got %v", err)
	}
}

func TestPoolOverflow(t *testing.T) {
	c := NewCluster("x", Config{Pool: PoolConfig{MaxConnections: 1, MaxPending: 1}}, nil)
	ctx := context.Background()
	if err := c.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error)
	go func() { waited <- c.Acquire(ctx) }()
	for c.pending.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Acquire(ctx); !errors.Is(err, ErrOverflow) {
		t.Fatalf("third call: %v, want ErrOverflow", err)
	}
	c.Release()
	if err := <-waited; err != nil {
		t.Fatalf("pending call: %v", err)
	}
	c.Release()
	if s := c.Status(); s.Overflows != 1 || s.InUse != 0 {
		t.Fatalf("status %+v", s)
	}
}

// BenchmarkRoute is the routing layer's cost per call: endpoint choice,
// pool accounting and outlier bookkeeping over three endpoints.
func BenchmarkRoute(b *testing.B) {
	for _, alg := range []string{RoundRobin, LeastRequest, Hash} {
		b.Run(alg, func(b *testing.B) {
			t := NewTable(nil)
			cfg := &Config{LB: LBConfig{Algorithm: alg, HashHeader: "x-user"}, Pool: PoolConfig{MaxConnections: 1 << 20},
				Outlier: OutlierConfig{Enabled: true, Consecutive5xx: 5, Interval: time.Second, BaseEjectionTime: time.Second, MaxEjectionPercent: 10}}
			cands := three()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c := t.Cluster("ns/api:80", cfg)
				if err := c.Acquire(ctx); err != nil {
					b.Fatal(err)
				}
				p, err := c.Choose(cands, "user-42")
				if err != nil {
					b.Fatal(err)
				}
				c.Done(p, Outcome{Status: 200})
				c.Release()
			}
		})
	}
}

func TestMaxRetries(t *testing.T) {
	c := NewCluster("x", Config{Pool: PoolConfig{MaxRetries: 2}}, nil)
	if !c.TryRetry() || !c.TryRetry() {
		t.Fatal("two retries refused under maxRetries 2")
	}
	if c.TryRetry() {
		t.Fatal("a third retry in flight allowed")
	}
	c.RetryDone()
	if !c.TryRetry() {
		t.Fatal("a retry refused after one ended")
	}
	if s := c.Status(); s.Retries != 2 || s.RetryOver != 1 {
		t.Fatalf("status %+v", s)
	}
	u := NewCluster("y", Config{}, nil) // Istio's default: no cap
	for range 100 {
		if !u.TryRetry() {
			t.Fatal("a retry refused without maxRetries")
		}
	}
}

// TestEjectionMultiplierDecays: a host ejected again right after it
// returns is out for twice baseEjectionTime; one that stayed healthy for
// intervals in between has its multiplier lowered by one per interval,
// so it is out for baseEjectionTime again.
func TestEjectionMultiplierDecays(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	cfg := Config{LB: LBConfig{Algorithm: RoundRobin}, Outlier: OutlierConfig{Enabled: true, Consecutive5xx: 1,
		Interval: time.Second, BaseEjectionTime: 5 * time.Second, MaxEjectionPercent: 100}}
	c := NewCluster("x", cfg, clk.now)
	one := []Endpoint{{Addr: "127.0.0.1:1"}}
	fail := func() time.Duration {
		p, err := c.Choose(one, "")
		if err != nil {
			t.Fatal(err)
		}
		if !c.Done(p, Outcome{Status: 503}) {
			t.Fatal("not ejected")
		}
		return c.Status().Endpoints[0].EjectedUntil.Sub(clk.t)
	}
	if d := fail(); d != 5*time.Second {
		t.Fatalf("first ejection %v, want 5s", d)
	}
	clk.t = clk.t.Add(5 * time.Second) // back, and failing at once
	if d := fail(); d != 10*time.Second {
		t.Fatalf("second ejection in a row %v, want 10s", d)
	}
	clk.t = clk.t.Add(10*time.Second + 1*time.Second) // back, healthy one interval: multiplier 2 → 1
	if m := c.Status().Endpoints[0].Multiplier; m != 1 {
		t.Fatalf("multiplier after one healthy interval %d, want 1", m)
	}
	if d := fail(); d != 10*time.Second {
		t.Fatalf("third ejection %v, want 10s (multiplier 1 + 1)", d)
	}
	clk.t = clk.t.Add(10*time.Second + 5*time.Second) // healthy five intervals: multiplier back to 0
	if d := fail(); d != 5*time.Second {
		t.Fatalf("after recovering, ejection %v, want baseEjectionTime 5s", d)
	}
	// The multiplier stops growing once it covers the 300s cap.
	for range 100 {
		clk.t = c.Status().Endpoints[0].EjectedUntil.Add(0)
		fail()
	}
	if m := c.Status().Endpoints[0].Multiplier; m > 61 {
		t.Fatalf("multiplier grew to %d past the cap", m)
	}
}

// TestHashWithoutKeySpreads: a request without the hash key (no header,
// no cookie) is not pinned: as Envoy, it goes to a random endpoint.
func TestHashWithoutKeySpreads(t *testing.T) {
	c := NewCluster("x", Config{LB: LBConfig{Algorithm: Hash, HashHeader: "x-user"}}, nil)
	seen := map[int]bool{}
	for range 100 {
		p, _ := c.Choose(three(), "")
		c.Done(p, Outcome{Status: 200})
		seen[p.Index] = true
	}
	if len(seen) != 3 {
		t.Fatalf("100 keyless calls used endpoints %v, want all three", seen)
	}
}
