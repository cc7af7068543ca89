package egress

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/vocab"
)

// denyBody is the JSON body of every deny and error response
// (docs/contract.md §7).
type denyBody struct {
	Error     string       `json:"error"`
	Reason    vocab.Reason `json:"reason"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id"`
}

// denyJSON renders the body. "error" says which of two things happened:
// egress_denied, the gateway refused the call; egress_failed, the call
// was allowed and could not be completed upstream (dns_failure,
// upstream_*), so a caller never reads a failure as a refusal.
func denyJSON(reason vocab.Reason, detail, requestID string) []byte {
	kind := "egress_denied"
	if !reason.Refusal() {
		kind = "egress_failed"
	}
	b, _ := json.Marshal(denyBody{Error: kind, Reason: reason, Detail: detail, RequestID: requestID})
	return append(b, '\n')
}

// denyResponse builds the HTTP response for a denial or a failed call.
func denyResponse(req *http.Request, reason vocab.Reason, detail, requestID string) *http.Response {
	body := denyJSON(reason, detail, requestID)
	status := reason.Status()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Sluice-Reason", string(reason))
	if requestID != "" {
		h.Set("Sluice-Request-Id", requestID)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// writeDeny writes a denial straight to a ResponseWriter.
func writeDeny(w http.ResponseWriter, reason vocab.Reason, detail, requestID string) {
	body := denyJSON(reason, detail, requestID)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Sluice-Reason", string(reason))
	if requestID != "" {
		h.Set("Sluice-Request-Id", requestID)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(reason.Status())
	_, _ = w.Write(body)
}
