// Package config holds the typed sluice.yaml (docs/contract.md §3): every
// key, its default (Default) and strict loading that names the line and key
// of every unknown key or bad value (Load, Parse).
//
// Each yaml-tagged field's doc comment is the one documentation of its key:
// `go generate ./internal/config` writes deploy/examples/sluice.yaml from
// these comments and Default(), and TestExampleConfigDocumentsEveryKey
// fails when that file is stale or a key has no comment. Write the comments
// for operators: what the key does, its unit, what 0 or "" means.
package config

//go:generate go run ./gendoc -src . -out ../../deploy/examples/sluice.yaml

// Config is the whole sluice.yaml. The zero value is not useful; start from
// Default() or Load().
type Config struct {
	// Listeners are the addresses Sluice listens on, as host:port; ""
	// turns a listener off. All are on loopback by default.
	Listeners Listeners `yaml:"listeners"`
	// Admin protects the admin API of listeners.admin with a bearer token.
	Admin Admin `yaml:"admin"`
	// Registry says where the declared destinations (Istio ServiceEntry
	// and DestinationRule YAML) come from, and whether undeclared ones are
	// refused.
	Registry Registry `yaml:"registry"`
	// DNS configures the DNS proxy (listeners.dns) and the gateway's own
	// resolver, which resolves the destinations it dials.
	DNS DNS `yaml:"dns"`
	// Policy configures the OPA engine that decides every declared call.
	Policy Policy `yaml:"policy"`
	// Identity configures how callers are identified, strongest first:
	// mTLS on the proxy listener, X-Forwarded-Client-Cert from a trusted
	// sidecar, a source CIDR, a Proxy-Authorization Basic user.
	Identity Identity `yaml:"identity"`
	// Audit configures the durable record of every call, allowed or
	// denied.
	Audit Audit `yaml:"audit"`
	// Cost prices the calls that went out; the price is on each record and
	// in `sluice cost report`.
	Cost Cost `yaml:"cost"`
	// Telemetry configures OpenTelemetry trace export; metrics are always
	// served on /metrics of the admin listener.
	Telemetry Telemetry `yaml:"telemetry"`
	// Log configures the process log, written to stderr.
	Log Log `yaml:"log"`
	// Limits bound the connections, time and bytes a caller can take.
	Limits Limits `yaml:"limits"`

	// File is the path the config was read from, "" for the embedded
	// default. Relative paths in the file are resolved against its
	// directory.
	File string `yaml:"-"`
}

// Listeners are the addresses Sluice listens on; "" turns a listener off.
type Listeners struct {
	// Proxy is the explicit HTTP proxy (HTTP_PROXY, HTTPS_PROXY):
	// absolute-URI requests and CONNECT. With identity.proxy_tls it speaks
	// TLS and asks callers for client certificates.
	Proxy string `yaml:"proxy"`
	// HTTP takes plain HTTP routed by its Host header (DNS-steered or mesh
	// callers); the destination port is 80 unless Host names one.
	HTTP string `yaml:"http"`
	// TLS takes TLS routed by the ClientHello SNI and splices it to the
	// destination unchanged (passthrough); the destination port is 443.
	TLS string `yaml:"tls"`
	// DNS is the DNS proxy, UDP and TCP on one address: declared names are
	// answered (see dns.answer), names in dns.forward_zones forwarded, and
	// the rest get NXDOMAIN and are recorded.
	DNS string `yaml:"dns"`
	// Admin serves /healthz, /readyz, /metrics, /v1/*, /debug/pprof/ and
	// the web console at /ui/. Any address but loopback needs admin.token
	// or admin.token_file.
	Admin string `yaml:"admin"`
}

// Admin configures the admin API.
type Admin struct {
	// Token is the bearer token required on /v1/* and /debug/*; "" requires
	// none, which is allowed only while listeners.admin is on loopback.
	// Set token or token_file, not both.
	Token string `yaml:"token"`
	// TokenFile is a file holding the token instead (a mounted Kubernetes
	// Secret), read at load with surrounding whitespace trimmed; it must
	// not be empty. "" means none.
	TokenFile string `yaml:"token_file"`
	// AuditorToken is a second bearer token, for auditors and FinOps: it
	// may read records, cost and the registry (/v1/audit, /v1/cost,
	// /v1/registry, the console at /ui/) and nothing else (not /v1/policy,
	// /v1/reload or /debug/*). Every read of records is itself recorded.
	// It needs admin.token (or token_file) and must differ from it; set
	// auditor_token or auditor_token_file, not both. "" means no auditor
	// role.
	AuditorToken string `yaml:"auditor_token"`
	// AuditorTokenFile is a file holding the auditor token instead, read
	// at load like token_file. "" means none.
	AuditorTokenFile string `yaml:"auditor_token_file"`
}

// Registry configures where the Istio resources come from.
type Registry struct {
	// Paths are the files and directories (read recursively) of
	// multi-document ServiceEntry, DestinationRule and VirtualService YAML. They are read
	// again when a file changes and on SIGHUP; an invalid set is refused
	// whole and the last good one stays in force.
	Paths []string `yaml:"paths"`
	// Mode is enforce (undeclared destinations and ports are denied) or
	// report (they are allowed, and recorded as would-deny with
	// enforced: false).
	Mode string `yaml:"mode"`
	// Gateways are the Istio Gateways ("namespace/name") this gateway
	// stands for. A VirtualService applies when it names no gateways,
	// names mesh, or names one of these; one bound only to other gateways
	// is reported and has no effect.
	Gateways []string `yaml:"gateways"`
	// Kubernetes also reads ServiceEntries, DestinationRules,
	// VirtualServices and Gateways from the cluster's API (and the Secrets
	// that DestinationRules name in credentialName), merged with paths.
	Kubernetes Kubernetes `yaml:"kubernetes"`
}

// Kubernetes configures the registry's Kubernetes source.
type Kubernetes struct {
	// Enabled watches the Istio resources of the Kubernetes API. An
	// invalid resource is skipped, logged and reported as an Event on it;
	// the rest apply. /readyz fails until the first full sync.
	Enabled bool `yaml:"enabled"`
	// Kubeconfig is the kubeconfig file to use; "" means the in-cluster
	// config (the pod's ServiceAccount).
	Kubeconfig string `yaml:"kubeconfig"`
	// Namespaces are the namespaces whose resources are read; [] means
	// every namespace.
	Namespaces []string `yaml:"namespaces"`
	// GatewayNamespace is the namespace the gateway runs in: exportTo is
	// judged from it, and credentialName Secrets are read in it. "" means
	// $POD_NAMESPACE, else the in-cluster ServiceAccount's namespace, else
	// default.
	GatewayNamespace string `yaml:"gateway_namespace"`
	// PodLabels are the labels of the gateway's own pods. An Istio
	// Gateway whose selector matches them narrows what is declared to the
	// hosts and ports its servers list (Istio's egress-gateway pattern);
	// with none, every visible ServiceEntry is declared. {} ignores
	// Gateways.
	PodLabels map[string]string `yaml:"pod_labels"`
	// SyncTimeout bounds the wait for the first full sync at start: a
	// gateway that cannot list the API within it does not start. 0 means
	// 60s.
	SyncTimeout Duration `yaml:"sync_timeout"`
}

// DNS configures the DNS proxy and the gateway's own resolver.
type DNS struct {
	// Upstreams are the resolvers asked, in order, by the gateway's
	// resolver and for forwarded zones: "ip" or "ip:port" (port 53 when
	// none; IPv6 in brackets with a port). [] means the nameservers of
	// /etc/resolv.conf.
	Upstreams []string `yaml:"upstreams"`
	// Answer is what declared names resolve to: gateway (the
	// gateway_addresses, so that calls come back through the http and tls
	// listeners) or endpoints (the destination's real addresses).
	Answer string `yaml:"answer"`
	// GatewayAddresses are the IP addresses given for declared names when
	// answer is gateway (A for IPv4, AAAA for IPv6): where workloads reach
	// this gateway. They must not be empty then.
	GatewayAddresses []string `yaml:"gateway_addresses"`
	// ForwardZones are name suffixes, e.g. cluster.local, always forwarded
	// unchanged to the upstreams, declared or not. The DNS proxy refuses
	// to start with "." (every name): it would be an open resolver.
	ForwardZones []string `yaml:"forward_zones"`
	// TTL is the TTL of the answers for declared names; 0 means 30s.
	TTL Duration `yaml:"ttl"`
	// Cache clamps the TTLs of upstream answers in the gateway's own
	// resolver (the one used to dial).
	Cache DNSCache `yaml:"cache"`
	// Timeout bounds one exchange with one upstream, after which the next
	// upstream is tried; 0 means 2s.
	Timeout Duration `yaml:"timeout"`
	// MaxInflight bounds the queries handled at once; more are dropped
	// (UDP) or refused (TCP), so that a flood cannot exhaust memory. At
	// least 1.
	MaxInflight int `yaml:"max_inflight"`
}

// DNSCache clamps the TTLs of upstream answers in the gateway's resolver.
type DNSCache struct {
	// MinTTL is the least time an upstream answer is cached, whatever its
	// TTL; at most max_ttl.
	MinTTL Duration `yaml:"min_ttl"`
	// MaxTTL is the longest time an upstream answer is cached; 0 means
	// 300s.
	MaxTTL Duration `yaml:"max_ttl"`
	// NegativeTTL caps how long NXDOMAIN and NODATA answers are cached
	// (their SOA minimum otherwise); 0 turns negative caching off.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// Size is the most names cached; 0 means 10000.
	Size int `yaml:"size"`
}

// Policy configures the OPA engine.
type Policy struct {
	// Paths are .rego files, data.json and data.yaml files, directories of
	// them (read recursively; hidden entries and *_test.rego skipped), or
	// OPA bundles (a directory with a .manifest, or a .tar.gz). With no
	// .rego at all, every declared call is allowed.
	Paths []string `yaml:"paths"`
	// Mode is enforce (a policy denial refuses the call: policy_denied) or
	// report (denials are allowed and recorded with enforced: false). A
	// policy error denies in both.
	Mode string `yaml:"mode"`
	// Bundle is a remote OPA bundle shared by replicas, polled from a
	// bundle server; it and paths form one policy.
	Bundle Bundle `yaml:"bundle"`
	// Timeout bounds one evaluation; a timeout is a deny (policy_error).
	// Must be positive.
	Timeout Duration `yaml:"timeout"`
}

// Bundle is a remote OPA bundle polled from a bundle server.
type Bundle struct {
	// URL is the bundle's http:// or https:// address; "" means no remote
	// bundle. Until a first bundle is activated every call is denied
	// (policy_error).
	URL string `yaml:"url"`
	// PollingInterval is how often the bundle is polled (±10%; sooner
	// until the first bundle, and at once on SIGHUP). Must be positive
	// when url is set.
	PollingInterval Duration `yaml:"polling_interval"`
	// PublicKey is inline PEM, or a PEM file read from the working
	// directory, that verifies signed bundles: when set, every bundle must
	// carry a .signatures.json that verifies. "" accepts unsigned bundles.
	PublicKey string `yaml:"public_key"`
}

// Identity configures how callers are identified.
type Identity struct {
	// ProxyTLS serves the proxy listener over TLS and can ask callers for a
	// client certificate, whose SPIFFE URI SAN (else CN) is their identity
	// (identity_source mtls).
	ProxyTLS ProxyTLS `yaml:"proxy_tls"`
	// TrustXFCCFrom lists the CIDRs (e.g. the mesh sidecars) whose
	// X-Forwarded-Client-Cert header is believed: the URI of its last
	// element is the caller's identity (xfcc). [] believes no one.
	TrustXFCCFrom []string `yaml:"trust_xfcc_from"`
	// Sources maps caller addresses to workload names, the most specific
	// CIDR first: the workload is recorded as source_workload and, when
	// nothing stronger identifies the caller, is its identity (cidr).
	Sources []Source `yaml:"sources"`
	// Required denies (identity_required) calls whose caller has no
	// identity from mTLS, XFCC, a source CIDR or proxy auth; false lets
	// them through with identity_source none.
	Required bool `yaml:"required"`
}

// ProxyTLS turns the proxy listener into a TLS listener that asks for
// client certificates.
type ProxyTLS struct {
	// Cert is the proxy listener's certificate chain, a PEM file; set it
	// with key. "" keeps the proxy listener plain HTTP.
	Cert string `yaml:"cert"`
	// Key is the PEM private key of cert.
	Key string `yaml:"key"`
	// ClientCA is a PEM file of the CAs whose client certificates identify
	// callers; a caller without a certificate is still served (and
	// identified otherwise). Needs cert and key. "" asks for no client
	// certificate.
	ClientCA string `yaml:"client_ca"`
}

// Source names the workload behind a CIDR.
type Source struct {
	// CIDR is the callers' addresses: a CIDR, or a bare IP (a /32 or
	// /128).
	CIDR string `yaml:"cidr"`
	// Workload names the workload behind cidr; required.
	Workload string `yaml:"workload"`
}

// Audit configures the record store.
type Audit struct {
	// Store is where records live: sqlite://PATH (parent directories are
	// created), postgres://user@host/db (or postgresql://) for replicas
	// sharing one store, or discard:// (nothing is recorded; for
	// benchmarks only).
	Store string `yaml:"store"`
	// OnFailure is what happens when the store cannot write: deny (no
	// record, no call: 503 audit_unavailable, and /readyz fails) or allow
	// (calls go on unrecorded).
	OnFailure string `yaml:"on_failure"`
	// Retention is how long records are kept; older ones are pruned in the
	// background. 0 keeps everything.
	Retention Duration `yaml:"retention"`
	// RequestIDHeader is the header that carries the record id upstream
	// (and back to the caller) on every HTTP request; "" turns it off.
	RequestIDHeader string `yaml:"request_id_header"`
	// CheckpointKey is the file of the Ed25519 key that signs checkpoints
	// of this gateway's transparency log, the tree of hashes over its
	// records that makes any later change to them evident (`sluice audit
	// keygen` writes the key, and its public half, which `sluice audit
	// verify --key` takes, beside it as FILE.pub). The gateway must be able
	// to read it; keep it from whoever can write the store. "" takes no
	// checkpoints: records are still logged and checked against the
	// stored hashes, which whoever changed them could rewrite too.
	CheckpointKey string `yaml:"checkpoint_key"`
	// CheckpointInterval is how often a signed checkpoint of the log is
	// taken and stored (when the log has grown since the last), and served
	// at /v1/audit/checkpoint; one is also taken at shutdown. Records
	// committed since the last checkpoint are not yet covered by a
	// signature.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// CheckpointFile is a file each checkpoint is appended to (and
	// synced), "" for none: a copy of the checkpoints outside the store for
	// `sluice audit verify --checkpoint`. Put it where whoever can write
	// the store cannot (another volume, an append-only mount).
	CheckpointFile string `yaml:"checkpoint_file"`
	// CheckpointURL is an http(s) URL each checkpoint is POSTed to
	// (text/plain, the signed note), "" for none: a copy kept by another
	// system. A failed POST is logged and counted; the next checkpoint
	// supersedes it.
	CheckpointURL string `yaml:"checkpoint_url"`
}

// Cost prices calls.
type Cost struct {
	// Currency labels every price, e.g. an ISO 4217 code; it is recorded
	// with each cost and shown by cost reports.
	Currency string `yaml:"currency"`
	// PerGiB is the network price of every call per GiB moved, (bytes_sent
	// + bytes_received) / 2^30; 0 makes bytes free.
	PerGiB float64 `yaml:"per_gib"`
	// Meters price requests by host, method and path: the first meter in
	// this order that matches a call names its meter and adds per_request
	// to its cost. Only calls that went out cost anything (allowed, or
	// denied in report mode).
	Meters []Meter `yaml:"meters"`
}

// Meter prices requests that match host, method and path prefix.
type Meter struct {
	// Name is the meter's name on records and in cost reports; required.
	Name string `yaml:"name"`
	// Host is the destination matched: exactly, "*.domain" for its
	// subdomains (not the domain itself), or "*" for any; required.
	Host string `yaml:"host"`
	// Method is the HTTP method matched, in any case; "" matches any.
	Method string `yaml:"method"`
	// PathPrefix matches the request paths that start with it (it starts
	// with /); "" matches any path.
	PathPrefix string `yaml:"path_prefix"`
	// PerRequest is the price of one matching call, in currency.
	PerRequest float64 `yaml:"per_request"`
}

// Telemetry configures OpenTelemetry export.
type Telemetry struct {
	// OTLPEndpoint turns on trace export: "host:port" or
	// "grpc://host:port" for OTLP/gRPC (insecure), "http://host:port[/path]"
	// for OTLP/HTTP (path /v1/traces by default), "https://..." for
	// OTLP/HTTP over TLS. "" exports no traces.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// ServiceName is the service.name resource attribute of the spans.
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the share of root spans sampled, from 0 to 1; a span
	// whose caller sent a traceparent follows the caller's sampled flag.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// Log configures log/slog output.
type Log struct {
	// Format is text or json.
	Format string `yaml:"format"`
	// Level is debug, info, warn or error, in any case.
	Level string `yaml:"level"`
	// Access writes one "access" line per call (id, listener, kind,
	// source, identity, method, host, port, path, status, reason, sent,
	// received, duration_ms). Access lines are gathered and written every
	// 50 ms (logx.Buffered): a crash may lose the last 50 ms of them, never
	// a record.
	Access bool `yaml:"access"`
}

// Limits bound resources and time.
type Limits struct {
	// MaxConnections bounds the client connections open at once across
	// the data-plane listeners; over it, new connections are closed at
	// accept and counted. At least 1.
	MaxConnections int `yaml:"max_connections"`
	// ConnectTimeout bounds dialling a destination, and the TLS handshake
	// of an originated TLS connection. Must be positive.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// IdleTimeout closes client keep-alive connections and pooled upstream
	// connections idle this long; 0 = no limit.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds a whole HTTP exchange upstream (504
	// upstream_timeout); 0 = none.
	RequestTimeout Duration `yaml:"request_timeout"`
	// HeaderTimeout bounds reading a request's headers, or a ClientHello on
	// the tls listener and in CONNECT tunnels (slowloris); 0 = none.
	HeaderTimeout Duration `yaml:"header_timeout"`
	// MaxHeaderBytes is the largest request header block, in bytes; larger
	// gets 431. At least 1024.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// DrainTimeout is how long SIGTERM waits for calls in flight before
	// the connections left are closed.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// BodyTimeout bounds the gap between two reads of a request body sent
	// upstream: a caller that sends nothing for this long (a slow-body
	// attack at 1 byte per minute) has its call cut (bad_request). 0 = none.
	BodyTimeout Duration `yaml:"body_timeout"`
	// MinBodyRate is the least average rate, in bytes per second, a request
	// body must keep once its first body_timeout has passed; slower bodies
	// (1 byte/s) are cut. 0 = no minimum.
	MinBodyRate int64 `yaml:"min_body_rate"`
	// RegistryBytes bounds the total size, in bytes, of the registry files
	// read at load and at every reload; a larger set is refused whole.
	// 0 = none.
	RegistryBytes int64 `yaml:"registry_bytes"`
}
