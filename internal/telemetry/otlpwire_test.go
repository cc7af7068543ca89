package telemetry

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps what the library's own
// transform produced: the oracle for wireEncoder.
type captureClient struct{ got []*tracepb.ResourceSpans }

func (c *captureClient) Start(context.Context) error { return nil }
func (c *captureClient) Stop(context.Context) error  { return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	c.got = append(c.got, rs...)
	return nil
}

// testSpans makes finished spans that use every part of the span model:
// all attribute types, events, links, status codes, a remote parent with
// trace state, several scopes and resources, a long (multi-byte length)
// attribute.
func testSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	res1 := resource.NewSchemaless(attribute.String("service.name", "sluice"), attribute.Int("n", 1))
	res2 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "other"))
	tp1 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res1))
	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res2))
	ctx := context.Background()

	ts, err := trace.ParseTraceState("vendor=abc,other=x")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
	long := string(bytes.Repeat([]byte("x"), 300))

	egress := tp1.Tracer("github.com/sluicehq/sluice/egress", trace.WithInstrumentationVersion("1.0"),
		trace.WithInstrumentationAttributes(attribute.String("scope.attr", "v")))
	_, s := egress.Start(trace.ContextWithRemoteSpanContext(ctx, remote), "GET", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("url.path", long), attribute.Int("server.port", 443)),
		trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.Bool("l", true)}}))
	s.SetAttributes(
		attribute.Bool("b", true), attribute.Int64("neg", -42), attribute.Float64("f", 3.25), attribute.String("empty", ""),
		attribute.BoolSlice("bs", []bool{true, false}), attribute.Int64Slice("is", []int64{1, -2}),
		attribute.Float64Slice("fs", []float64{0.5}), attribute.StringSlice("ss", []string{"a", ""}),
	)
	s.AddEvent("event", trace.WithAttributes(attribute.String("k", "v")))
	s.RecordError(errors.New("boom"))
	s.SetStatus(codes.Error, "upstream_unreachable")
	s.End()

	_, s = egress.Start(ctx, "CONNECT", trace.WithSpanKind(trace.SpanKindServer))
	s.SetStatus(codes.Ok, "")
	s.End()
	_, s = tp1.Tracer("").Start(ctx, "unnamed scope")
	s.End()
	_, s = tp2.Tracer("other", trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0")).Start(ctx, "produce", trace.WithSpanKind(trace.SpanKindProducer))
	s.End()
	_, s = egress.Start(ctx, "TLS passthrough", trace.WithSpanKind(trace.SpanKindConsumer))
	s.End()
	_, s = egress.Start(ctx, "internal", trace.WithSpanKind(trace.SpanKindInternal))
	s.End()
	return rec.Ended()
}

// normalize orders resources and scopes (the library's transform groups
// them through maps, in no order).
func normalize(rss []*tracepb.ResourceSpans) {
	key := func(m proto.Message) string {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		return string(b)
	}
	for _, rs := range rss {
		slices.SortFunc(rs.ScopeSpans, func(a, b *tracepb.ScopeSpans) int {
			return bytes.Compare([]byte(key(a.Scope)), []byte(key(b.Scope)))
		})
	}
	slices.SortFunc(rss, func(a, b *tracepb.ResourceSpans) int {
		return bytes.Compare([]byte(key(a.Resource)), []byte(key(b.Resource)))
	})
}

// The encoder's request is the one the library's OTLP transform builds.
func TestWireEncoderMatchesLibraryTransform(t *testing.T) {
	spans := testSpans(t)
	var c captureClient
	exp := otlptrace.NewUnstarted(&c)
	if err := exp.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	want := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: c.got}

	var enc wireEncoder
	var buf []byte
	for round := 0; round < 2; round++ { // the second round reuses the scratch
		buf = enc.appendRequest(buf[:0], spans)
		got := &collectortracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(buf, got); err != nil {
			t.Fatalf("round %d: our request does not parse: %v", round, err)
		}
		normalize(got.ResourceSpans)
		normalize(want.ResourceSpans)
		if !proto.Equal(got, want) {
			t.Fatalf("round %d: encoder and library differ\n got: %v\nwant: %v", round, got, want)
		}
	}
	if n := len(want.ResourceSpans); n != 2 {
		t.Errorf("test spans cover %d resources, want 2", n)
	}
}

// An empty batch is an empty request.
func TestWireEncoderEmpty(t *testing.T) {
	var enc wireEncoder
	if b := enc.appendRequest(nil, nil); len(b) != 0 {
		t.Errorf("empty batch encodes as %x", b)
	}
}

func BenchmarkExportEncode(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "sluice"))))
	tr := tp.Tracer("github.com/sluicehq/sluice/egress")
	for i := 0; i < 512; i++ {
		_, s := tr.Start(context.Background(), "GET", trace.WithSpanKind(trace.SpanKindClient))
		s.SetAttributes(attribute.String("server.address", "api.stripe.com"), attribute.Int("server.port", 443),
			attribute.String("sluice.listener", "proxy"), attribute.String("sluice.kind", "http"),
			attribute.String("sluice.identity", "spiffe://cluster.local/ns/shop/sa/checkout"), attribute.String("sluice.identity_source", "mtls"),
			attribute.String("client.address", "10.1.2.3"), attribute.String("http.request.method", "GET"),
			attribute.String("url.path", "/v1/charges"), attribute.Int("http.response.status_code", 200),
			attribute.String("sluice.decision", "allow"), attribute.String("sluice.request_id", "01M8NPT7NX515MPAYSP4ZH2JMW"),
			attribute.String("sluice.service_entry", "payments/stripe"), attribute.String("network.peer.address", "54.187.174.169"))
		s.End()
	}
	spans := rec.Ended()
	b.Run("wire", func(b *testing.B) {
		var enc wireEncoder
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = enc.appendRequest(buf[:0], spans)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
	})
	b.Run("library", func(b *testing.B) {
		var c captureClient
		exp := otlptrace.NewUnstarted(&c)
		b.ReportAllocs()
		for b.Loop() {
			c.got = c.got[:0]
			_ = exp.ExportSpans(context.Background(), spans)
			_, _ = proto.Marshal(&collectortracepb.ExportTraceServiceRequest{ResourceSpans: c.got})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
	})
}

// A batch of the batch processor's size has message lengths of three
// varint bytes (over 16 KiB); it still matches the library.
func TestWireEncoderLargeBatch(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := tp.Tracer("github.com/sluicehq/sluice/egress")
	for i := 0; i < 600; i++ {
		_, s := tr.Start(context.Background(), "GET", trace.WithAttributes(attribute.Int("i", i),
			attribute.String("url.path", string(bytes.Repeat([]byte{'a' + byte(i%26)}, i%200)))))
		s.End()
	}
	spans := rec.Ended()
	var c captureClient
	if err := otlptrace.NewUnstarted(&c).ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	var enc wireEncoder
	buf := enc.appendRequest(nil, spans)
	if len(buf) < 1<<16 {
		t.Fatalf("request is %d bytes; the test wants lengths over 16 KiB", len(buf))
	}
	got := &collectortracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(buf, got); err != nil {
		t.Fatal(err)
	}
	if want := (&collectortracepb.ExportTraceServiceRequest{ResourceSpans: c.got}); !proto.Equal(got, want) {
		t.Fatal("encoder and library differ on a large batch")
	}
}
