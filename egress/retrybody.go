package egress

import (
	"bytes"
	"io"
	"net/http"
)

// retryBufferBytes bounds the request body kept so that a VirtualService
// retry can send it again (Envoy buffers a request for retries up to its
// per-request buffer limit). A longer body is streamed upstream as it
// arrives and the request is not retried.
const retryBufferBytes = 64 << 10

// replayBody is a request body read whole, up to retryBufferBytes, so
// that each attempt can send it from the start.
type replayBody struct {
	buf []byte
}

// bufferForRetry reads req's body up to the bound. It returns the
// replayable body, or nil when the body is longer (req.Body then streams
// what was read followed by the rest, and the request is sent once) or
// when reading failed (err: the caller's body, e.g. too slow).
func bufferForRetry(req *http.Request) (*replayBody, error) {
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(req.Body, retryBufferBytes+1))
	if err != nil {
		return nil, err
	}
	if n > retryBufferBytes {
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b.Bytes()), req.Body), req.Body}
		return nil, nil
	}
	rb := &replayBody{buf: b.Bytes()}
	rb.set(req)
	return rb, nil
}

// set gives req a fresh copy of the body, and GetBody for the
// transport's own resends.
func (rb *replayBody) set(req *http.Request) {
	req.Body = io.NopCloser(bytes.NewReader(rb.buf))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rb.buf)), nil }
}
