package dnsproxy

// STUB: replaced by the DNS work.

import (
	"context"
	"log/slog"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/registry"
	"go.opentelemetry.io/otel/metric"
)

// ServerOptions configure the DNS proxy.
type ServerOptions struct {
	// Addr is the dns listener address (UDP and TCP).
	Addr     string
	Config   config.DNS
	Registry *registry.Registry
	Resolver *Resolver
	// Auditor records denied queries.
	Auditor       *audit.Auditor
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
}

// Server is the DNS proxy.
type Server struct{ opts ServerOptions }

// NewServer returns a server.
func NewServer(opts ServerOptions) (*Server, error) { return &Server{opts: opts}, nil }

// Start binds the listeners.
func (s *Server) Start(ctx context.Context) error { return nil }

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
