package policy

import (
	"slices"
	"time"
)

// The states of the policy in force (Status.State).
const (
	// StateActive: a compiled policy decides every call.
	StateActive = "active"
	// StateAllowAll: no Rego is configured; every call the registry
	// declares is allowed.
	StateAllowAll = "allow_all"
	// StateWaitingForBundle: a remote bundle is configured and none has
	// been activated yet; every call is denied with policy_error.
	StateWaitingForBundle = "waiting_for_bundle"
)

// Status describes the policy in force and the last reload, for the admin
// API. It is a copy: safe to keep and to serialise as JSON.
type Status struct {
	// State is active, allow_all or waiting_for_bundle.
	State string `json:"state"`
	// Mode is enforce or report.
	Mode string `json:"mode"`
	// Generation counts successful loads, starting at 1.
	Generation uint64 `json:"generation"`
	// LoadedAt is when the policy in force was swapped in.
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Modules counts the Rego modules in force.
	Modules int `json:"modules"`
	// Files are the local .rego and data files in force.
	Files []string `json:"files,omitempty"`
	// Bundles are the local bundles in force.
	Bundles []BundleStatus `json:"bundles,omitempty"`
	// Remote describes policy.bundle.url when configured.
	Remote *RemoteStatus `json:"remote,omitempty"`
	// LastReload is the result of the last load attempt.
	LastReload ReloadStatus `json:"last_reload"`
}

// BundleStatus names a bundle and the revision of its .manifest.
type BundleStatus struct {
	Path     string `json:"path"`
	Revision string `json:"revision,omitempty"`
}

// RemoteStatus describes the remote bundle.
type RemoteStatus struct {
	URL string `json:"url"`
	// Revision and ETag are those of the active bundle ("" before the first).
	Revision string `json:"revision,omitempty"`
	ETag     string `json:"etag,omitempty"`
	// Verified is set when bundles must carry a signature checked with
	// policy.bundle.public_key.
	Verified bool `json:"verified"`
	// ActivatedAt is when the active bundle was swapped in.
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	// LastCheck is the last poll; LastError its error ("" on success or 304).
	LastCheck time.Time `json:"last_check,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// ReloadStatus is the outcome of one load attempt.
type ReloadStatus struct {
	Time time.Time `json:"time,omitzero"`
	// Trigger is startup, watch, reload (SIGHUP / Reload) or bundle.
	Trigger string `json:"trigger,omitempty"`
	// Result is success or failure.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// clone returns a deep copy.
func (s Status) clone() Status {
	s.Files = slices.Clone(s.Files)
	s.Bundles = slices.Clone(s.Bundles)
	if s.Remote != nil {
		r := *s.Remote
		s.Remote = &r
	}
	return s
}
