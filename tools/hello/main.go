// Command hello is the example destination of `make run`: a small HTTP
// server on loopback that the example registry declares as
// hello.sluice.example (deploy/examples/registry/hello.yaml), so that a
// newcomer's first call through the gateway is allowed, reaches an
// upstream and comes back, with a record and a cost, without internet
// access. It answers every request with what it received, as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8480", "address to listen on (loopback: the gateway dials it as a declared STATIC endpoint)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(hello), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("example destination listening", "addr", *addr, "declared_as", "hello.sluice.example")
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Error("example destination stopped", "err", err)
		os.Exit(1)
	}
}

// hello answers with what it received: the method, host, path, and the
// Sluice-Request-Id the gateway added (the id of the call's record).
func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"hello":             "from the example destination behind Sluice",
		"method":            r.Method,
		"host":              r.Host,
		"path":              r.URL.Path,
		"sluice_request_id": r.Header.Get("Sluice-Request-Id"),
	})
}
