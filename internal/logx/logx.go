// Package logx builds the process logger from the log: section.
package logx

import (
	"io"
	"log/slog"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// New returns a text or JSON slog.Logger at the configured level.
func New(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
