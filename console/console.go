// Package console is Sluice's web console for auditors and FinOps
// (docs/contract.md §10): plain HTML, CSS and JavaScript embedded in the
// binary, served at /ui/ on the admin listener, nothing fetched from
// elsewhere. The files hold no records: the page asks for a token and
// reads everything through the admin API (GET /v1/audit, /v1/audit/tail,
// /v1/audit/export, /v1/cost, /v1/cost/series, /v1/registry) with it, so
// the API's roles and its record of every read apply unchanged.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// Handler serves the console's files under Prefix, and redirects /ui to
// /ui/. Every answer forbids framing and outside scripts (CSP), and is
// not cached, so that a new binary's console is the one seen.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui" {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
