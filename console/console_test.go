package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The console is served from the binary, and loads nothing from
// elsewhere: every src and href is relative.
func TestServedOffline(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("", Handler()))
	defer srv.Close()
	get := func(p string) (int, string, http.Header) {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, page, h := get("/ui/")
	if code != 200 || !strings.Contains(page, "<title>Sluice") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("/ui/: %d %v\n%s", code, h, page)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[1], "//") {
			t.Errorf("the page loads %s from elsewhere", m[1])
		}
		if code, _, _ := get("/ui/" + m[1]); code != 200 {
			t.Errorf("%s: %d", m[1], code)
		}
	}
	// The SVG namespace is a name, not an address fetched.
	if _, js, _ := get("/ui/app.js"); strings.Contains(strings.ReplaceAll(js, "'http://www.w3.org/2000/svg'", ""), "http") {
		t.Error("app.js names an outside address")
	}
}
