package egress

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
)

// accessCall is a finished tunnel's call as the access log sees it.
func accessCall() *call {
	host, _, _ := canon.ParseAuthority("secure.test:443", 443)
	c := newCall(Request{Listener: vocab.ListenerProxy, Kind: vocab.KindConnect, Method: "CONNECT", Host: host, Port: 443,
		Start: time.Now().Add(-1500 * time.Millisecond)})
	c.Identity.IP, c.Identity.ID = netip.MustParseAddr("127.0.0.1"), "spiffe://t/ns/a/sa/b"
	c.Reason = vocab.SNIMismatch
	c.rec = &audit.Record{ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}
	return c
}

// The access log line is what Logger.LogAttrs wrote before accessLog
// handed records to the handler itself (docs/contract.md: its content
// and format are the contract's), in both formats.
func TestAccessLogLine(t *testing.T) {
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "duration_ms" { // they move between the two lines
			return slog.Attr{}
		}
		return a
	}}
	c := accessCall()
	for name, newHandler := range map[string]func(io.Writer) slog.Handler{
		"json": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, noTime) },
		"text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, noTime) },
	} {
		t.Run(name, func(t *testing.T) {
			var got, want bytes.Buffer
			cfg := config.Default()
			cfg.Log.Access = true
			g := &Gateway{cfg: cfg, access: slog.New(newHandler(&got))}
			g.accessLog(c, 200, 1234, 5678)
			slog.New(newHandler(&want)).LogAttrs(context.Background(), slog.LevelInfo, "access", slog.String("id", c.rec.ID),
				slog.String("listener", c.Listener), slog.String("kind", c.Kind), slog.String("source", c.Identity.IP.String()),
				slog.String("identity", c.Identity.ID), slog.String("method", c.Method), slog.String("host", c.Host.String()),
				slog.Int("port", c.Port), slog.String("path", c.Path), slog.Int("status", 200), slog.String("reason", string(c.Reason)),
				slog.Int64("sent", 1234), slog.Int64("received", 5678), slog.Int64("duration_ms", time.Since(c.Start).Milliseconds()))
			if got.String() != want.String() {
				t.Errorf("access line\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}

// BenchmarkAccessLog: one access line (JSON, discarded).
func BenchmarkAccessLog(b *testing.B) {
	cfg := config.Default()
	cfg.Log.Access = true
	g := &Gateway{cfg: cfg, access: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	c := accessCall()
	b.ReportAllocs()
	for b.Loop() {
		g.accessLog(c, 200, 1234, 5678)
	}
}
