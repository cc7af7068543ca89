package egress

import (
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/lb"
)

var cookieSeed = maphash.MakeSeed()

// cookieKey is the consistent-hash key of a request under an httpCookie
// policy: the cookie's value. When the request has none and the policy
// gives a ttl, a value is generated, as Envoy does, from the caller's
// connection (so racing requests of one connection agree), used as the
// key and set on the response (balanced.setCookie) so that the caller's
// next requests carry it and stick to the same endpoint.
func (b *balanced) cookieKey(cfg *lb.LBConfig, r *http.Request) string {
	if ck, err := r.Cookie(cfg.HashCookie); err == nil {
		return ck.Value
	}
	if !cfg.CookieGen {
		return ""
	}
	if b.cookie == "" {
		b.cookie = strconv.FormatUint(maphash.String(cookieSeed, r.RemoteAddr), 16)
		b.setCookie = setCookieValue(cfg, b.cookie)
	}
	return b.cookie
}

// setCookieValue is the Set-Cookie header of a generated cookie, as
// Envoy writes it: Max-Age from the ttl (none: a session cookie), Path,
// HttpOnly, then the policy's attributes.
func setCookieValue(cfg *lb.LBConfig, value string) string {
	var sb strings.Builder
	sb.WriteString(cfg.HashCookie + "=" + value)
	if s := int64(cfg.CookieTTL.Seconds()); s > 0 {
		sb.WriteString("; Max-Age=" + strconv.FormatInt(s, 10))
	}
	if cfg.CookiePath != "" {
		sb.WriteString("; Path=" + cfg.CookiePath)
	}
	sb.WriteString("; HttpOnly")
	sb.WriteString(cfg.CookieAttrs)
	return sb.String()
}
