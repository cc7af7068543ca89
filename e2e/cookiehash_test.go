package e2e

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTrafficPolicyCookieHash: consistentHash.httpCookie with a ttl: a
// caller without the cookie gets one (Set-Cookie, as Envoy generates
// it), and a client that keeps it sticks to one endpoint; callers on
// other connections get other cookies and spread over the endpoints.
func TestTrafficPolicyCookieHash(t *testing.T) {
	_, port := startTrio(t)
	g := StartGateway(t, Options{Files: map[string]string{"registry/r.yaml": trioSE("ck", "ck.example", port) +
		trioDR("ck", "ck.example", "    loadBalancer: {consistentHash: {httpCookie: {name: sticky, path: /, ttl: 60s}}}\n")}})
	pu, _ := url.Parse("http://" + g.Proxy)
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	}
	used := map[string]bool{}
	for range 12 {
		c := newClient()
		resp, err := c.Get("http://ck.example/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sc := resp.Header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "sticky=") || !strings.Contains(sc, "Max-Age=60") || !strings.Contains(sc, "Path=/") || !strings.Contains(sc, "HttpOnly") {
			t.Fatalf("Set-Cookie %q", sc)
		}
		_, first, _ := call(t, c, "http://ck.example/", "")
		used[first] = true
		for range 5 {
			resp, err := c.Get("http://ck.example/")
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 8)
			n, _ := resp.Body.Read(b)
			resp.Body.Close()
			if got := string(b[:n]); got != first {
				t.Fatalf("with cookie %s: %s, then %s", sc, first, got)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Fatalf("a request with the cookie was given another: %s", resp.Header.Get("Set-Cookie"))
			}
		}
		c.CloseIdleConnections()
	}
	if len(used) < 2 {
		t.Fatalf("12 callers' cookies all on %v", used)
	}
}
