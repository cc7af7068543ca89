package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// flakyTraceService refuses its first export as unavailable, then
// accepts.
type flakyTraceService struct {
	collectortrace.UnimplementedTraceServiceServer
	calls atomic.Int32
	sink  *spanSink
}

func (f *flakyTraceService) Export(_ context.Context, r *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	if f.calls.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	f.sink.add(r, "")
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// A collector that is briefly unavailable gets the batch on a retry, over
// gRPC and HTTP; one that rejects it for good is not retried.
func TestExportRetries(t *testing.T) {
	spans := testSpans(t)
	t.Run("grpc", func(t *testing.T) {
		svc := &flakyTraceService{sink: &spanSink{}}
		u, _ := url.Parse(serveGRPC(t, svc))
		exp, err := newGRPCExporter(u.Host, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Shutdown(context.Background())
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
		if n, got := svc.calls.Load(), len(svc.sink.spans()); n != 2 || got != len(spans) {
			t.Errorf("%d attempts, %d spans delivered; want 2 and %d", n, got, len(spans))
		}
	})
	t.Run("http", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch calls.Add(1) {
			case 1:
				http.Error(w, "busy", http.StatusServiceUnavailable)
			case 2:
				w.WriteHeader(http.StatusOK)
			default:
				http.Error(w, "bad", http.StatusBadRequest)
			}
		}))
		defer srv.Close()
		u, _ := url.Parse(srv.URL)
		exp := newHTTPExporter(u, nil)
		defer exp.Shutdown(context.Background())
		if err := exp.ExportSpans(context.Background(), spans); err != nil || calls.Load() != 2 {
			t.Fatalf("503 then 200: err %v after %d attempts, want success after 2", err, calls.Load())
		}
		if err := exp.ExportSpans(context.Background(), spans); err == nil || calls.Load() != 3 {
			t.Fatalf("400: err %v after %d attempts, want an error after 1 more", err, calls.Load())
		}
	})
}

// Spans never wait for a collector that is not there: ending thousands
// of them with the endpoint refusing connections returns, and Shutdown
// gives up at its deadline.
func TestCollectorDownNeverBlocksCalls(t *testing.T) {
	l := httptest.NewServer(http.NotFoundHandler())
	endpoint := "grpc://" + l.Listener.Addr().String()
	l.Close() // nothing listens there now
	tr, err := NewTracing(context.Background(), config.Telemetry{OTLPEndpoint: endpoint, ServiceName: "sluice", SampleRatio: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider.Tracer("test")
	for i := 0; i < 10000; i++ {
		_, s := tracer.Start(context.Background(), "GET")
		s.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = tr.Shutdown(ctx) // an error (deadline) is expected; returning is the point
}
