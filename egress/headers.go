package egress

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 (the list of
// net/http/httputil), stripped in both directions.
var hopHeaders = [...]string{
	"Connection",
	"Proxy-Connection", // non-standard, sent by old clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// stripHopByHop removes hop-by-hop headers and those named by Connection.
// A WebSocket upgrade keeps Connection: Upgrade and Upgrade, which the
// handshake needs.
func stripHopByHop(h http.Header) {
	upgrade := ""
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			f = textproto.TrimString(f)
			if strings.EqualFold(f, "Upgrade") {
				upgrade = h.Get("Upgrade")
			}
			if f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	if upgrade != "" {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", upgrade)
	}
}
