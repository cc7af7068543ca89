package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/lb"
)

// TestCookieHashConfig: httpCookie becomes the balancer's cookie key and
// is no longer warned about.
func TestCookieHashConfig(t *testing.T) {
	se := seDoc("  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n")
	dr := drDoc("  host: api.example.com\n  trafficPolicy:\n    loadBalancer:\n      consistentHash: {httpCookie: {name: sticky, path: /app, ttl: 90s, attributes: [{name: Secure}, {name: SameSite, value: Lax}]}}\n")
	s, ds := buildDocs(t, BuildOptions{}, se, dr)
	for _, d := range ds {
		if strings.Contains(d.Field, "httpCookie") {
			t.Errorf("still warned: %v", d)
		}
	}
	rt, _ := s.Lookup(mustHost(t, "api.example.com"), 80)
	want := lb.LBConfig{Algorithm: lb.Hash, HashCookie: "sticky", CookiePath: "/app", CookieTTL: 90 * time.Second, CookieGen: true,
		CookieAttrs: "; Secure; SameSite=Lax"}
	if rt.Traffic == nil || rt.Traffic.LB != want {
		t.Fatalf("lb %+v, want %+v", rt.Traffic, want)
	}
}
