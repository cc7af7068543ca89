package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// maxBundleBytes bounds each file of a downloaded bundle (gzip bombs).
const maxBundleBytes = 256 << 20

// errNotModified: the server answered 304, the active bundle is current.
var errNotModified = errors.New("bundle not modified")

// remote downloads an OPA bundle with the standard bundle protocol: GET
// the URL with If-None-Match set to the ETag of the active bundle; 304
// keeps it, 200 carries a gzipped tarball.
type remote struct {
	url    string
	client *http.Client
	verify *bundle.VerificationConfig // nil: signatures are not checked
}

// fetch downloads the bundle unless etag is still current (errNotModified).
// A bundle that fails signature verification is an error.
func (r *remote) fetch(ctx context.Context, etag string) (*bundle.Bundle, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", r.url, err)
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", r.url, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return nil, etag, errNotModified
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		detail := strings.TrimSpace(string(msg))
		if detail != "" {
			detail = ": " + detail
		}
		return nil, "", fmt.Errorf("bundle %s: server answered %s%s", r.url, resp.Status, detail)
	}
	br := bundle.NewCustomReader(bundle.NewTarballLoaderWithBaseURL(resp.Body, r.url)).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotations(true).
		WithSizeLimitBytes(maxBundleBytes).
		WithBundleVerificationConfig(r.verify).
		WithSkipBundleVerification(r.verify == nil).
		WithBundleName(r.url)
	b, err := br.Read()
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", r.url, err)
	}
	return &b, resp.Header.Get("ETag"), nil
}
