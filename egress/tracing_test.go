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
		{call{Request: Request{Host: host(t, "api.example.com"), Port: 80, Path: "/v1/x"}}, "http://api.example.com/v1/x"},
		{call{Request: Request{Host: host(t, "api.example.com"), Port: 8080, Path: "/"}}, "http://api.example.com:8080/"},
		{call{Request: Request{Host: host(t, "api.example.com"), Port: 80, Path: "/pay"}, upScheme: "https", upPort: 443}, "https://api.example.com/pay"},
		{call{Request: Request{Host: host(t, "api.example.com"), Port: 80, Path: "/pay"}, upScheme: "https", upPort: 8443}, "https://api.example.com:8443/pay"},
		{call{Request: Request{Host: host(t, "2001:db8::1"), Port: 80, Path: "/"}, upScheme: "http", upPort: 80}, "http://[2001:db8::1]/"},
	} {
		if got := urlFull(&tc.c); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}
