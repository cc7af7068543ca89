// Package policy asks OPA about every call: it compiles the security
// team's Rego (package sluice.egress), evaluates data.sluice.egress.allow
// and data.sluice.egress.reasons for the input of docs/contract.md §5, and
// turns any error into a denial.
package policy

import "time"

// Input is the policy input document (docs/contract.md §5).
type Input struct {
	Source      Source      `json:"source"`
	Destination Destination `json:"destination"`
	Request     Request     `json:"request"`
	Time        time.Time   `json:"time"`
}

// Source identifies the caller.
type Source struct {
	Identity       string `json:"identity"`
	IdentitySource string `json:"identity_source"` // mtls|xfcc|proxy_auth|cidr|none
	IP             string `json:"ip"`
	Workload       string `json:"workload"`
}

// Destination is where the call goes and the ServiceEntry that declares it.
type Destination struct {
	Host         string           `json:"host"`
	Port         int              `json:"port"`
	ServiceEntry *ServiceEntryRef `json:"service_entry"` // nil when undeclared (registry report mode)
}

// ServiceEntryRef describes the matched ServiceEntry.
type ServiceEntryRef struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Protocol    string            `json:"protocol"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Request describes the call.
type Request struct {
	Kind   string `json:"kind"` // http|connect|tls
	Method string `json:"method"`
	Path   string `json:"path"`
	// Headers are keyed by lower-case name.
	Headers        map[string][]string `json:"headers"`
	SNI            string              `json:"sni"`
	TLSOrigination bool                `json:"tls_origination"`
}

// Decision is the engine's answer.
type Decision struct {
	// Allow is the effective decision (true for a reported denial in
	// report mode).
	Allow bool
	// Enforced is false when policy denied but mode is report.
	Enforced bool
	// Reasons are data.sluice.egress.reasons, sorted.
	Reasons []string
	// Error is set for policy_error denials.
	Error error
}
