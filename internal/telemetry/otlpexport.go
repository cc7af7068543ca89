package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// exportTimeout bounds one export (all its attempts), as the OTLP
// exporters' default does.
const exportTimeout = 10 * time.Second

// exportMethod is the OTLP/gRPC trace export method.
const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// otlpExporter is an sdktrace.SpanExporter that sends each batch as one
// OTLP export request, encoded by wireEncoder (otlpwire.go) and handed
// to a transport (gRPC or HTTP). A failed attempt that the collector may
// get over (unavailable, overloaded) is retried with backoff until the
// export's deadline; the batch processor exports one batch at a time.
type otlpExporter struct {
	send  func(ctx context.Context, body []byte) (retryable bool, err error)
	close func() error

	mu   sync.Mutex
	enc  wireEncoder
	buf  []byte
	done bool
}

// ExportSpans encodes spans and sends them.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return nil
	}
	e.buf = e.enc.appendRequest(e.buf[:0], spans)
	ctx, cancel := context.WithTimeout(ctx, exportTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		retryable, err := e.send(ctx, e.buf)
		if err == nil || !retryable {
			if err != nil {
				return fmt.Errorf("telemetry: exporting %d spans: %w", len(spans), err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("telemetry: exporting %d spans: %w (gave up: %v)", len(spans), err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Shutdown stops exporting and closes the transport.
func (e *otlpExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return nil
	}
	e.done = true
	if e.close != nil {
		return e.close()
	}
	return nil
}

// rawCodec hands gRPC the request bytes as they are (the export request
// is already encoded) and gives back the response's bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("telemetry: raw codec cannot marshal %T", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("telemetry: raw codec cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

// Name is "proto": on the wire this is the protobuf content subtype.
func (rawCodec) Name() string { return "proto" }

// exportHeaders are the headers every export carries, from the standard
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS
// (comma-separated key=value, values URL-encoded; the traces variable
// wins for a key in both): how a collector or tracing vendor that wants an
// API key gets one.
func exportHeaders(getenv func(string) string) (map[string]string, error) {
	h := map[string]string{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return nil, fmt.Errorf("telemetry: %s: %q is not key=value", name, strings.TrimSpace(kv))
			}
			dec, err := url.PathUnescape(strings.TrimSpace(val))
			if err != nil {
				return nil, fmt.Errorf("telemetry: %s: value of %q: %w", name, k, err)
			}
			h[strings.ToLower(k)] = dec
		}
	}
	return h, nil
}

// newGRPCExporter exports to an OTLP/gRPC collector at host:port, in
// plain text (as the grpc:// endpoint says).
func newGRPCExporter(host string, headers map[string]string) (*otlpExporter, error) {
	conn, err := grpc.NewClient(host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp grpc %s: %w", host, err)
	}
	md := metadata.New(headers)
	var resp []byte
	send := func(ctx context.Context, body []byte) (bool, error) {
		if len(md) > 0 {
			ctx = metadata.NewOutgoingContext(ctx, md)
		}
		err := conn.Invoke(ctx, exportMethod, body, &resp, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			switch status.Code(err) {
			case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange,
				codes.Unavailable, codes.DataLoss, codes.ResourceExhausted:
				return true, err
			}
			return false, err
		}
		return false, partialSuccess(resp)
	}
	return &otlpExporter{send: send, close: conn.Close}, nil
}

// newHTTPExporter exports to an OTLP/HTTP collector at u (path
// /v1/traces unless u has one). It never goes through an HTTP proxy: the
// environment's proxy is often this gateway.
func newHTTPExporter(u *url.URL, headers map[string]string) *otlpExporter {
	target := *u
	if target.Path == "" || target.Path == "/" {
		target.Path = "/v1/traces"
	}
	endpoint := target.String()
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: exportTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: exportTimeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	client := &http.Client{Transport: tr}
	send := func(ctx context.Context, body []byte) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		res, err := client.Do(req)
		if err != nil {
			return ctx.Err() == nil, err // a refused or broken connection may recover
		}
		defer res.Body.Close()
		data, rerr := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		switch {
		case res.StatusCode == http.StatusOK:
			if rerr != nil {
				return false, nil // accepted; the answer's detail is lost
			}
			return false, partialSuccess(data)
		case res.StatusCode == http.StatusTooManyRequests, res.StatusCode == http.StatusBadGateway,
			res.StatusCode == http.StatusServiceUnavailable, res.StatusCode == http.StatusGatewayTimeout:
			return true, errors.New(res.Status)
		}
		return false, errors.New(res.Status + ": " + strconv.Quote(string(bytes.TrimSpace(data[:min(len(data), 256)]))))
	}
	return &otlpExporter{send: send, close: func() error { tr.CloseIdleConnections(); return nil }}
}

// partialSuccess turns an export response that rejected spans into an
// error (the batch processor hands it to the OTel error handler, which
// logs it).
func partialSuccess(resp []byte) error {
	if len(resp) == 0 {
		return nil
	}
	var r collectortracepb.ExportTraceServiceResponse
	if err := proto.Unmarshal(resp, &r); err != nil {
		return nil // accepted; an answer we cannot read changes nothing
	}
	if ps := r.GetPartialSuccess(); ps != nil && (ps.GetRejectedSpans() > 0 || ps.GetErrorMessage() != "") {
		return fmt.Errorf("collector rejected %d spans: %s", ps.GetRejectedSpans(), ps.GetErrorMessage())
	}
	return nil
}
