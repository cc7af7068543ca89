package egress

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

// errSlowBody is the failure of a call whose caller sent its request body
// too slowly (limits.body_timeout, limits.min_body_rate).
var errSlowBody = errors.New("the request body arrived slower than limits.body_timeout / limits.min_body_rate allow")

// countingBody counts the bytes of a body. Wrapping a request body sent
// upstream (newBody), it also bounds how slowly the caller may send them. Each read must make
// progress within body_timeout (a read deadline on the caller's
// connection), and once body_timeout has passed since the first read the
// average rate must stay at or above min_body_rate; otherwise the read
// fails and the call ends as bad_request. Without these a caller sending
// one byte a second holds a connection and an upstream slot forever.
type countingBody struct {
	io.ReadCloser
	n   int64
	err error // set when the body was cut for being slow

	rc      *http.ResponseController
	timeout time.Duration
	minRate int64
	start   time.Time
}

// newBody wraps body for the caller's request on w.
func (g *Gateway) newBody(w http.ResponseWriter, body io.ReadCloser) *countingBody {
	b := &countingBody{ReadCloser: body}
	lim := g.cfg.Limits
	if t := lim.BodyTimeout.D(); t > 0 {
		b.rc, b.timeout, b.minRate = http.NewResponseController(w), t, lim.MinBodyRate
	}
	return b
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.rc == nil {
		n, err := b.ReadCloser.Read(p)
		b.n += int64(n)
		return n, err
	}
	now := time.Now()
	if b.start.IsZero() {
		b.start = now
	}
	_ = b.rc.SetReadDeadline(now.Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && isTimeout(err):
		b.err = fail(vocab.BadRequest, errSlowBody)
		return n, b.err
	case b.tooSlow(time.Now()):
		b.err = fail(vocab.BadRequest, errSlowBody)
		return n, b.err
	}
	return n, err
}

// tooSlow reports whether the average rate since the first read has
// fallen below min_body_rate, once body_timeout has passed.
func (b *countingBody) tooSlow(now time.Time) bool {
	if b.minRate <= 0 {
		return false
	}
	elapsed := now.Sub(b.start)
	return elapsed > b.timeout && float64(b.n) < float64(b.minRate)*elapsed.Seconds()
}

// count is the number of body bytes read (0 for a request without one).
func (b *countingBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
