package egress

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lb"
)

// TestCookieHash: a request with the cookie sticks to one endpoint; one
// without gets a generated cookie (Set-Cookie as Envoy writes it) whose
// value then routes the same way; without a ttl nothing is generated.
func TestCookieHash(t *testing.T) {
	g := &Gateway{lbs: lb.NewTable(nil)}
	cfg := &lb.Config{LB: lb.LBConfig{Algorithm: lb.Hash, HashCookie: "sticky", CookiePath: "/", CookieTTL: time.Hour, CookieGen: true,
		CookieAttrs: "; SameSite=Strict"}}
	plan := &dialPlan{addrs: []dialAddr{{network: "tcp", addr: "127.0.0.1:1"}, {network: "tcp", addr: "127.0.0.2:1"}, {network: "tcp", addr: "127.0.0.3:1"}}}
	pick := func(cfg *lb.Config, cookie string) (string, *balanced) {
		req, _ := http.NewRequest("GET", "http://x.test/", nil)
		req.RemoteAddr = "10.0.0.9:4242"
		if cookie != "" {
			req.Header.Set("Cookie", "sticky="+cookie)
		}
		c := &call{plan: plan}
		b := &balanced{cfg: cfg, name: "t/x:80", full: plan}
		if err := g.balance(context.Background(), c, req, b); err != nil {
			t.Fatal(err)
		}
		b.end(200, nil)
		return c.plan.addrs[0].addr, b
	}
	used := map[string]bool{}
	for _, v := range []string{"a", "b", "c", "d", "e", "f"} {
		first, b := pick(cfg, v)
		if b.setCookie != "" {
			t.Fatalf("a request with the cookie got Set-Cookie %q", b.setCookie)
		}
		used[first] = true
		for range 5 {
			if got, _ := pick(cfg, v); got != first {
				t.Fatalf("cookie %s went to %s, then %s", v, first, got)
			}
		}
	}
	if len(used) < 2 {
		t.Fatalf("six cookies all on %v", used)
	}
	first, b := pick(cfg, "")
	want := "sticky=" + b.cookie + "; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict"
	if b.cookie == "" || b.setCookie != want {
		t.Fatalf("generated Set-Cookie %q, want %q", b.setCookie, want)
	}
	if got, _ := pick(cfg, b.cookie); got != first {
		t.Fatalf("the generated cookie routes to %s, the first request went to %s", got, first)
	}
	noTTL := *cfg
	noTTL.LB.CookieGen = false
	if _, b := pick(&noTTL, ""); b.setCookie != "" {
		t.Fatalf("no ttl, yet Set-Cookie %q", b.setCookie)
	}
}
