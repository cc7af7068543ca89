package egress

import (
	"context"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/vocab"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// startSpan opens the call's span as a child of the caller's W3C
// traceparent (when h carries one) and records the trace id on the call,
// so that the audit record and the trace meet.
func (g *Gateway) startSpan(ctx context.Context, c *call, h http.Header, name string) (context.Context, trace.Span) {
	if h != nil {
		ctx = g.prop.Extract(ctx, propagation.HeaderCarrier(h))
	}
	ctx, span := g.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	if sc := span.SpanContext(); sc.HasTraceID() {
		c.traceID = sc.TraceID().String()
	}
	return ctx, span
}

// injectTrace writes our span (or, with tracing off, the caller's) as the
// upstream request's traceparent.
func (g *Gateway) injectTrace(ctx context.Context, h http.Header) {
	g.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// endSpan sets the semantic-convention attributes and the decision, and
// ends the span. The span carries what a trace view needs to tell calls
// apart; the rest of the call (caller address, identity source, the
// address dialled, bytes) is in its audit record, which
// sluice.request_id names: every attribute costs CPU in the gateway and
// in the Collector on every call.
func endSpan(span trace.Span, c *call, status int, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 14)
	attrs = append(attrs, semconv.ServerAddress(c.Host.String()), semconv.ServerPort(c.Port),
		attribute.String("sluice.listener", c.Listener))
	if c.Identity.ID != "" {
		attrs = append(attrs, attribute.String("sluice.identity", c.Identity.ID))
	}
	if c.Method != "" {
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(c.Method))
	}
	if c.Kind == vocab.KindHTTP {
		attrs = append(attrs, semconv.URLFull(urlFull(c)))
	}
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	attrs = append(attrs, attribute.String("sluice.decision", c.RecordedDecision()))
	reason := c.Reason
	if err != nil && reason == "" {
		reason = classify(err)
	}
	if reason != "" {
		attrs = append(attrs, attribute.String("sluice.reason", string(reason)))
	}
	// error.type, as the HTTP client conventions require for a call that
	// failed: the reason code, else the 5xx status.
	switch {
	case reason != "" && (c.Denied || err != nil):
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(reason)))
	case status >= 500:
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	}
	if c.rec != nil {
		attrs = append(attrs, attribute.String("sluice.request_id", c.rec.ID))
		if c.rec.ServiceEntry != "" {
			attrs = append(attrs, attribute.String("sluice.service_entry", c.rec.ServiceEntry))
		}
	}
	if c.SNI != "" {
		attrs = append(attrs, attribute.String("tls.server.name", c.SNI))
	}
	span.SetAttributes(attrs...)
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, string(reason))
	case c.Denied:
		span.SetStatus(codes.Error, string(c.Reason))
	case status >= 500:
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// urlFull is the span's url.full: the URL the request went to upstream
// (https under TLS origination, the port dialled), or, for a call that
// was not forwarded, the one asked for. Like the audit record's path it
// leaves the query string out. Default ports are omitted.
func urlFull(c *call) string {
	scheme, port := c.upScheme, c.upPort
	if scheme == "" {
		scheme, port = "http", c.Port
	}
	host := c.Host.Bracketed()
	if (scheme == "http" && port != 80) || (scheme == "https" && port != 443) {
		host += ":" + strconv.Itoa(port)
	}
	return scheme + "://" + host + c.Path
}
