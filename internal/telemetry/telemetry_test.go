package telemetry

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

func traceparent(flags string) string {
	return "00-" + callerTraceID + "-" + callerSpanID + "-" + flags
}

// NewTracing accepts the endpoint forms of telemetry.otlp_endpoint and
// names the field in its errors.
func TestNewTracingEndpoints(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		sdk      bool   // a real (exporting) provider
		err      string // substring of the error, "" = ok
	}{
		{"", false, ""},
		{"127.0.0.1:4317", true, ""},
		{"grpc://127.0.0.1:4317", true, ""},
		{"http://127.0.0.1:4318", true, ""},
		{"https://127.0.0.1:4318/custom/v1/traces", true, ""},
		{"ftp://127.0.0.1:21", false, "scheme must be grpc, http or https"},
		{"grpc://", false, "invalid otlp_endpoint"},
	} {
		name := tc.endpoint
		if name == "" {
			name = "off"
		}
		t.Run(name, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), config.Telemetry{OTLPEndpoint: tc.endpoint, ServiceName: "sluice", SampleRatio: 1}, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.sdk != nil; got != tc.sdk {
				t.Errorf("exporting provider: %v, want %v", got, tc.sdk)
			}
			if tr.Propagator == nil || tr.Provider == nil {
				t.Fatal("provider and propagator must be set")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Errorf("shutdown with nothing to send: %v", err)
			}
		})
	}
}

// With telemetry off the caller's traceparent goes upstream unchanged:
// egress extracts it, starts a (no-op) span and injects the context.
func TestTracingOffPassesTraceparentThrough(t *testing.T) {
	tr, err := NewTracing(context.Background(), config.Telemetry{ServiceName: "sluice", SampleRatio: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := http.Header{"Traceparent": {traceparent("01")}}
	ctx := tr.Propagator.Extract(context.Background(), propagation.HeaderCarrier(in))
	ctx, span := tr.Provider.Tracer("test").Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if span.IsRecording() {
		t.Error("a span of the no-op provider must not record")
	}
	if got := span.SpanContext().TraceID().String(); got != callerTraceID {
		t.Errorf("trace id %s, want the caller's %s (it goes into the audit record)", got, callerTraceID)
	}
	out := http.Header{}
	tr.Propagator.Inject(ctx, propagation.HeaderCarrier(out))
	if got := out.Get("Traceparent"); got != traceparent("01") {
		t.Errorf("upstream traceparent %q, want the caller's %q", got, traceparent("01"))
	}
}

// spanSink collects what an OTLP receiver got.
type spanSink struct {
	mu   sync.Mutex
	reqs []*collectortrace.ExportTraceServiceRequest
	keys []string // the x-api-key header of each request
}

func (s *spanSink) add(r *collectortrace.ExportTraceServiceRequest, apiKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	s.keys = append(s.keys, apiKey)
}

func (s *spanSink) apiKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys)
}

type gotSpan struct {
	span     *tracepb.Span
	resource map[string]string
}

func (s *spanSink) spans() []gotSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gotSpan
	for _, r := range s.reqs {
		for _, rs := range r.ResourceSpans {
			res := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				res[kv.Key] = kv.Value.GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					out = append(out, gotSpan{span: sp, resource: res})
				}
			}
		}
	}
	return out
}

// httpReceiver is a loopback OTLP/HTTP (protobuf) trace receiver.
func httpReceiver(t *testing.T) (*spanSink, string) {
	sink := &spanSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req := &collectortrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sink.add(req, r.Header.Get("X-Api-Key"))
		b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return sink, "http://" + srv.Listener.Addr().String()
}

type grpcTraceService struct {
	collectortrace.UnimplementedTraceServiceServer
	sink *spanSink
}

func (g *grpcTraceService) Export(ctx context.Context, r *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	g.sink.add(r, strings.Join(md.Get("x-api-key"), ","))
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// grpcReceiver is a loopback OTLP/gRPC trace receiver.
func grpcReceiver(t *testing.T) (*spanSink, string) {
	sink := &spanSink{}
	return sink, serveGRPC(t, &grpcTraceService{sink: sink})
}

// serveGRPC serves svc on a loopback port until the test ends and returns
// its grpc:// endpoint.
func serveGRPC(tb testing.TB, svc collectortrace.TraceServiceServer) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, svc)
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(srv.Stop)
	return "grpc://" + l.Addr().String()
}

// Spans reach an OTLP receiver over gRPC and HTTP with the process's
// resource (service name, version, instance), in the caller's trace as a
// child of the caller's span; root spans start new traces.
func TestTracesExported(t *testing.T) {
	for _, tc := range []struct {
		name    string
		receive func(*testing.T) (*spanSink, string)
	}{
		{"grpc", grpcReceiver},
		{"http", httpReceiver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Headers from the standard variables; the traces one wins.
			t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=general,x-other=1")
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Api-Key=s3cr%2Ct")
			sink, endpoint := tc.receive(t)
			ctx := context.Background()
			cfg := config.Telemetry{OTLPEndpoint: endpoint, ServiceName: "sluice-test", SampleRatio: 1}
			tr, err := NewTracing(ctx, cfg, Resource(ctx, cfg, "1.2.3", "gw-1"))
			if err != nil {
				t.Fatal(err)
			}
			tracer := tr.Provider.Tracer("test")
			pctx := tr.Propagator.Extract(ctx, propagation.HeaderCarrier(http.Header{"Traceparent": {traceparent("01")}}))
			_, child := tracer.Start(pctx, "GET", trace.WithSpanKind(trace.SpanKindClient))
			child.SetAttributes(attribute.String("sluice.decision", "allow"))
			child.End()
			_, root := tracer.Start(ctx, "CONNECT", trace.WithSpanKind(trace.SpanKindClient))
			root.End()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := tr.Shutdown(sctx); err != nil { // flushes the batcher
				t.Fatal(err)
			}
			got := sink.spans()
			if len(got) != 2 {
				t.Fatalf("receiver got %d spans, want 2", len(got))
			}
			for _, k := range sink.apiKeys() {
				if k != "s3cr,t" {
					t.Errorf("x-api-key %q, want the OTEL_EXPORTER_OTLP_TRACES_HEADERS value", k)
				}
			}
			for _, s := range got {
				if s.resource["service.name"] != "sluice-test" || s.resource["service.version"] != "1.2.3" || s.resource["service.instance.id"] != "gw-1" {
					t.Errorf("resource %v", s.resource)
				}
				if s.span.Kind != tracepb.Span_SPAN_KIND_CLIENT {
					t.Errorf("span %s: kind %v", s.span.Name, s.span.Kind)
				}
				tid := trace.TraceID(s.span.TraceId).String()
				parent := ""
				if len(s.span.ParentSpanId) == 8 {
					parent = trace.SpanID(s.span.ParentSpanId).String()
				}
				switch s.span.Name {
				case "GET":
					if tid != callerTraceID || parent != callerSpanID {
						t.Errorf("child span: trace %s parent %q, want %s %s", tid, parent, callerTraceID, callerSpanID)
					}
				case "CONNECT":
					if tid == callerTraceID || parent != "" {
						t.Errorf("root span: trace %s parent %q, want a new trace and no parent", tid, parent)
					}
				}
			}
		})
	}
}

// sample_ratio samples root spans; a span with a caller parent follows the
// caller's sampled flag whatever the ratio.
func TestSampling(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ratio  float64
		parent string // traceparent flags, "" = root span
		want   bool
	}{
		{"root ratio 1", 1, "", true},
		{"root ratio 0", 0, "", false},
		{"sampled parent ratio 0", 0, "01", true},
		{"unsampled parent ratio 1", 1, "00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, endpoint := httpReceiver(t)
			tr, err := NewTracing(context.Background(), config.Telemetry{OTLPEndpoint: endpoint, ServiceName: "s", SampleRatio: tc.ratio}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			ctx := context.Background()
			if tc.parent != "" {
				ctx = tr.Propagator.Extract(ctx, propagation.HeaderCarrier(http.Header{"Traceparent": {traceparent(tc.parent)}}))
			}
			_, span := tr.Provider.Tracer("test").Start(ctx, "GET")
			defer span.End()
			if got := span.SpanContext().IsSampled(); got != tc.want {
				t.Errorf("sampled %v, want %v", got, tc.want)
			}
			if tc.parent != "" && span.SpanContext().TraceID().String() != callerTraceID {
				t.Errorf("trace id %s, want the caller's", span.SpanContext().TraceID())
			}
		})
	}
}

// scrape returns the /metrics text and its Content-Type.
func scrape(t *testing.T, m *Metrics) (string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

// /metrics is Prometheus text with a content type Prometheus 3 accepts,
// with neither scope labels nor target_info: the series are exactly the
// names and labels of docs/contract.md §9. Duration histograms (unit "s")
// get the gateway's buckets, from 10µs to 60s; other histograms keep
// the boundaries their package chose.
func TestMetricsExposition(t *testing.T) {
	ctx := context.Background()
	cfg := config.Telemetry{ServiceName: "sluice"}
	m, err := NewMetrics(Resource(ctx, cfg, "1.2.3", "gw-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(ctx)
	meter := m.MeterProvider().Meter("sluice/test")
	d, _ := meter.Float64Histogram("sluice_request_duration_seconds", metric.WithUnit("s"))
	d.Record(ctx, 0.0002, metric.WithAttributes(attribute.String("listener", "proxy"), attribute.String("decision", "allow")))
	d.Record(ctx, 45, metric.WithAttributes(attribute.String("listener", "proxy"), attribute.String("decision", "allow")))
	b, _ := meter.Int64Histogram("sluice_audit_batch_size", metric.WithExplicitBucketBoundaries(1, 8, 64))
	b.Record(ctx, 5)
	c, _ := meter.Int64Counter("sluice_config_reloads_total")
	c.Add(ctx, 0, metric.WithAttributes(attribute.String("kind", "registry"), attribute.String("result", "failure")))

	body, ctype := scrape(t, m)
	if !strings.HasPrefix(ctype, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want Prometheus text 0.0.4", ctype)
	}
	for _, want := range []string{
		`sluice_request_duration_seconds_bucket{decision="allow",listener="proxy",le="0.0001"} 0`,
		`sluice_request_duration_seconds_bucket{decision="allow",listener="proxy",le="0.00025"} 1`,
		`sluice_request_duration_seconds_bucket{decision="allow",listener="proxy",le="30"} 1`,
		`sluice_request_duration_seconds_bucket{decision="allow",listener="proxy",le="60"} 2`,
		`sluice_request_duration_seconds_count{decision="allow",listener="proxy"} 2`,
		`sluice_audit_batch_size_bucket{le="8"} 1`,
		`sluice_audit_batch_size_bucket{le="64"} 1`,
		// A counter added 0 is exported at 0: how failure series exist
		// before the first failure (see README, "Counters start at zero").
		`sluice_config_reloads_total{kind="registry",result="failure"} 0`,
		"# TYPE sluice_config_reloads_total counter",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
	for _, bad := range []string{"otel_scope", "target_info", "service_name", "sluice_config_reloads_total_total"} {
		if strings.Contains(body, bad) {
			t.Errorf("unexpected %q in:\n%s", bad, body)
		}
	}
}

// benchSpan does what egress does for one call: extract the caller's
// traceparent, start a client span, inject it upstream, set the call's
// attributes and end it.
func benchSpan(b *testing.B, tr *Tracing) {
	tracer := tr.Provider.Tracer("sluice/egress")
	in := http.Header{"Traceparent": {traceparent("01")}}
	attrs := []attribute.KeyValue{
		attribute.String("server.address", "api.example.com"), attribute.Int("server.port", 443),
		attribute.String("sluice.listener", "proxy"), attribute.String("sluice.kind", "http"),
		attribute.String("sluice.identity", ""), attribute.String("sluice.identity_source", "none"),
		attribute.String("client.address", "127.0.0.1"), attribute.String("http.request.method", "GET"),
		attribute.String("url.path", "/v1/items"), attribute.Int("http.response.status_code", 200),
		attribute.String("sluice.decision", "allow"), attribute.String("sluice.request_id", "01JXYZABCDEFGHJKMNPQRSTVWX"),
		attribute.String("sluice.service_entry", "shop/api"), attribute.String("network.peer.address", "127.0.0.1"),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx := tr.Propagator.Extract(context.Background(), propagation.HeaderCarrier(in))
		ctx, span := tracer.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient))
		out := http.Header{}
		tr.Propagator.Inject(ctx, propagation.HeaderCarrier(out))
		if span.IsRecording() {
			span.SetAttributes(attrs...)
		}
		span.End()
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
}

// The per-call cost of tracing: off (no-op provider, the traceparent
// passes through) and exported by OTLP/gRPC to a loopback receiver.
func BenchmarkSpan(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		tr, err := NewTracing(context.Background(), config.Telemetry{ServiceName: "sluice", SampleRatio: 1}, nil)
		if err != nil {
			b.Fatal(err)
		}
		benchSpan(b, tr)
	})
	b.Run("otlp-grpc", func(b *testing.B) {
		ctx := context.Background()
		cfg := config.Telemetry{OTLPEndpoint: serveGRPC(b, countingService{}), ServiceName: "sluice", SampleRatio: 1}
		tr, err := NewTracing(ctx, cfg, Resource(ctx, cfg, "bench", "gw-1"))
		if err != nil {
			b.Fatal(err)
		}
		benchSpan(b, tr)
	})
}

// countingService is an OTLP/gRPC receiver that only acknowledges.
type countingService struct {
	collectortrace.UnimplementedTraceServiceServer
}

func (countingService) Export(context.Context, *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// OTEL_EXPORTER_OTLP_HEADERS parses as the OTel spec says, and a bad one
// is an error that names the variable.
func TestExportHeaders(t *testing.T) {
	for _, tc := range []struct {
		general, traces string
		want            map[string]string
		err             string
	}{
		{"", "", map[string]string{}, ""},
		{"api-key=abc", "", map[string]string{"api-key": "abc"}, ""},
		{" A=1 , b = x%20y ", "", map[string]string{"a": "1", "b": "x y"}, ""},
		{"a=1,b=2", "B=3", map[string]string{"a": "1", "b": "3"}, ""},
		{"novalue", "", nil, "OTEL_EXPORTER_OTLP_HEADERS: \"novalue\" is not key=value"},
		{"", "a=%zz", nil, "OTEL_EXPORTER_OTLP_TRACES_HEADERS: value of \"a\""},
	} {
		env := map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": tc.general, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": tc.traces}
		got, err := exportHeaders(func(k string) string { return env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %q: err %v, want %q", tc.general, tc.traces, err, tc.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%q %q: %v %v, want %v", tc.general, tc.traces, got, err, tc.want)
		}
	}
}
