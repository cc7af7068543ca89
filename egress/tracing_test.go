package egress

import (
	"testing"

	"github.com/sluicehq/sluice/internal/canon"
)

// host is the canonical host of a test's literal.
func host(t testing.TB, s string) canon.Host {
	t.Helper()
	h, err := canon.ParseHost(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// url.full names the URL the request went to upstream, else the one asked
// for; default ports are left out and IPv6 literals bracketed.
func TestURLFull(t *testing.T) {
	for _, tc := range []struct {
		c    call
		want string
	}{
		{call{host: host(t, "api.example.com"), port: 80, path: "/v1/x"}, "http://api.example.com/v1/x"},
		{call{host: host(t, "api.example.com"), port: 8080, path: "/"}, "http://api.example.com:8080/"},
		{call{host: host(t, "api.example.com"), port: 80, path: "/pay", upScheme: "https", upPort: 443}, "https://api.example.com/pay"},
		{call{host: host(t, "api.example.com"), port: 80, path: "/pay", upScheme: "https", upPort: 8443}, "https://api.example.com:8443/pay"},
		{call{host: host(t, "2001:db8::1"), port: 80, path: "/", upScheme: "http", upPort: 80}, "http://[2001:db8::1]/"},
	} {
		if got := urlFull(&tc.c); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}
