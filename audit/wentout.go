package audit

import (
	"strings"

	"github.com/sluicehq/sluice/internal/vocab"
)

// WentOut reports whether the call of r went out to its upstream, which
// is what cost and the cost report count (docs/contract.md §8): an
// outbound call that was allowed (or denied only in report mode), and did
// not fail before it reached an upstream. A call that failed with an
// upstream reason (dns_failure, upstream_*), no dialed_ip and no bytes
// either way never connected: nothing went out, nothing is owed. The stores' SQL says the
// same (WentOutSQL); the three must agree.
func (r *Record) WentOut() bool {
	if r.Event != "" && r.Event != vocab.EventOutboundCall {
		return false
	}
	if r.Decision == vocab.DecisionDeny && r.Enforced {
		return false
	}
	if reason := vocab.Reason(r.Reason); reason != "" && !reason.Refusal() && r.DialedIP == "" && r.BytesSent == 0 && r.BytesReceived == 0 {
		return false
	}
	return true
}

// WentOutSQL is Record.WentOut as a condition on the records view.
func WentOutSQL() string {
	var failures []string
	for _, r := range vocab.Reasons() {
		if !r.Refusal() {
			failures = append(failures, "'"+string(r)+"'")
		}
	}
	return "event = '" + vocab.EventOutboundCall + "' AND (decision = '" + vocab.DecisionAllow + "' OR NOT enforced)" +
		" AND NOT (reason IN (" + strings.Join(failures, ", ") + ") AND dialed_ip = '' AND bytes_sent = 0 AND bytes_received = 0)"
}
