package format

import "strings"

// shortErrors map the errors of a failed call, as recorded, to a short
// word for the table (the whole error is in JSON and CSV), first match
// wins.
var shortErrors = []struct{ sub, word string }{
	{"gateway_restart", "gateway_restart"},
	{"connection reset", "reset"},
	{"broken pipe", "reset"},
	{"timeout", "timeout"},
	{"deadline exceeded", "timeout"},
	{"refused", "refused"},
	{"EOF", "closed"},
	{"closed", "closed"},
	{"tls", "tls_error"},
	{"certificate", "tls_error"},
	{"canceled", "canceled"},
}

// shortError is a short word for err: one of shortErrors, else its first
// word.
func shortError(err string) string {
	low := strings.ToLower(err)
	for _, s := range shortErrors {
		if strings.Contains(low, strings.ToLower(s.sub)) {
			return s.word
		}
	}
	if f := strings.Fields(err); len(f) > 0 {
		return strings.TrimSuffix(f[0], ":")
	}
	return "failed"
}
