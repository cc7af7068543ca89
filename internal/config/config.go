// Package config holds the typed sluice.yaml (DESIGN section 3): every key,
// its documented default, and strict loading that names the line and key of
// every unknown key or bad value.
package config

// Config is the whole sluice.yaml. The zero value is not useful; start from
// Default() or Load().
type Config struct {
	Listeners Listeners `yaml:"listeners"`
	Admin     Admin     `yaml:"admin"`
	Registry  Registry  `yaml:"registry"`
	DNS       DNS       `yaml:"dns"`
	Policy    Policy    `yaml:"policy"`
	Identity  Identity  `yaml:"identity"`
	Audit     Audit     `yaml:"audit"`
	Cost      Cost      `yaml:"cost"`
	Telemetry Telemetry `yaml:"telemetry"`
	Log       Log       `yaml:"log"`
	Limits    Limits    `yaml:"limits"`

	// File is the path the config was read from, "" for the embedded
	// default. Relative paths in the file are resolved against its
	// directory.
	File string `yaml:"-"`
}

// Listeners are the addresses Sluice listens on; "" turns a listener off.
type Listeners struct {
	// Proxy is the explicit HTTP proxy: absolute-URI requests and CONNECT.
	Proxy string `yaml:"proxy"`
	// HTTP takes plain HTTP routed by Host (DNS-steered or mesh callers).
	HTTP string `yaml:"http"`
	// TLS takes TLS routed by the ClientHello SNI and splices it (passthrough).
	TLS string `yaml:"tls"`
	// DNS is the DNS proxy, UDP and TCP.
	DNS string `yaml:"dns"`
	// Admin serves /healthz, /readyz, /metrics and /v1/*.
	Admin string `yaml:"admin"`
}

// Admin configures the admin API.
type Admin struct {
	// Token is the bearer token required on /v1/*; mandatory when the
	// admin listener is not on loopback.
	Token string `yaml:"token"`
	// TokenFile holds the token instead (a mounted Kubernetes Secret);
	// read at load, surrounding whitespace trimmed.
	TokenFile string `yaml:"token_file"`
}

// Registry configures where the Istio resources come from.
type Registry struct {
	// Paths are files or directories of multi-document YAML.
	Paths []string `yaml:"paths"`
	// Mode is enforce (undeclared denied) or report (undeclared allowed and
	// recorded as would-deny).
	Mode string `yaml:"mode"`
}

// DNS configures the DNS proxy and the gateway's own resolver.
type DNS struct {
	// Upstreams are "ip[:port]" resolvers; empty means the nameservers in
	// /etc/resolv.conf.
	Upstreams []string `yaml:"upstreams"`
	// Answer is gateway (answer declared names with GatewayAddresses) or
	// endpoints (answer with the real addresses).
	Answer           string   `yaml:"answer"`
	GatewayAddresses []string `yaml:"gateway_addresses"`
	// ForwardZones are suffixes forwarded unchanged to the upstreams.
	ForwardZones []string `yaml:"forward_zones"`
	// TTL of the answers for declared names.
	TTL   Duration `yaml:"ttl"`
	Cache DNSCache `yaml:"cache"`
	// Timeout bounds one upstream exchange before the next upstream is tried.
	Timeout Duration `yaml:"timeout"`
	// MaxInflight bounds the queries handled at once; more are dropped
	// (UDP) or refused, so a flood cannot exhaust memory.
	MaxInflight int `yaml:"max_inflight"`
}

// DNSCache clamps the TTLs of upstream answers in the gateway's resolver.
type DNSCache struct {
	MinTTL Duration `yaml:"min_ttl"`
	MaxTTL Duration `yaml:"max_ttl"`
	// NegativeTTL caps how long NXDOMAIN/NODATA answers are cached.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// Size is the maximum number of cached names.
	Size int `yaml:"size"`
}

// Policy configures the OPA engine.
type Policy struct {
	// Paths are .rego files, data.json/data.yaml, or OPA bundles (a
	// directory with a .manifest, or a .tar.gz).
	Paths []string `yaml:"paths"`
	// Mode is enforce or report (denials allowed, recorded enforced=false).
	Mode   string `yaml:"mode"`
	Bundle Bundle `yaml:"bundle"`
	// Timeout bounds one evaluation; a timeout is a deny (policy_error).
	Timeout Duration `yaml:"timeout"`
}

// Bundle is a remote OPA bundle polled from a bundle server.
type Bundle struct {
	URL             string   `yaml:"url"`
	PollingInterval Duration `yaml:"polling_interval"`
	// PublicKey is a PEM file (or inline PEM) verifying signed bundles.
	PublicKey string `yaml:"public_key"`
}

// Identity configures how callers are identified.
type Identity struct {
	ProxyTLS ProxyTLS `yaml:"proxy_tls"`
	// TrustXFCCFrom lists CIDRs whose X-Forwarded-Client-Cert is believed.
	TrustXFCCFrom []string `yaml:"trust_xfcc_from"`
	// Sources maps source CIDRs to workload names.
	Sources []Source `yaml:"sources"`
	// Required denies (identity_required) calls whose caller has no
	// identity from mTLS, XFCC, proxy auth or a source CIDR.
	Required bool `yaml:"required"`
}

// ProxyTLS turns the proxy listener into a TLS listener that asks for
// client certificates.
type ProxyTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// Source names the workload behind a CIDR.
type Source struct {
	CIDR     string `yaml:"cidr"`
	Workload string `yaml:"workload"`
}

// Audit configures the record store.
type Audit struct {
	// Store is sqlite://PATH or postgres://...
	Store string `yaml:"store"`
	// OnFailure is deny (no record, no call: 503 audit_unavailable) or allow.
	OnFailure string `yaml:"on_failure"`
	// Retention prunes older records; 0 keeps everything.
	Retention Duration `yaml:"retention"`
	// RequestIDHeader is added upstream with the record id; "" turns it off.
	RequestIDHeader string `yaml:"request_id_header"`
}

// Cost prices calls.
type Cost struct {
	Currency string  `yaml:"currency"`
	PerGiB   float64 `yaml:"per_gib"`
	Meters   []Meter `yaml:"meters"`
}

// Meter prices requests that match host, method and path prefix.
type Meter struct {
	Name       string  `yaml:"name"`
	Host       string  `yaml:"host"`
	Method     string  `yaml:"method"`
	PathPrefix string  `yaml:"path_prefix"`
	PerRequest float64 `yaml:"per_request"`
}

// Telemetry configures OpenTelemetry export.
type Telemetry struct {
	// OTLPEndpoint turns on trace export: "host:port" or "grpc://host:port"
	// for OTLP/gRPC, "http://host:port" for OTLP/HTTP.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	ServiceName  string `yaml:"service_name"`
	// SampleRatio samples root spans (spans with a caller traceparent
	// follow the caller's decision).
	SampleRatio float64 `yaml:"sample_ratio"`
}

// Log configures log/slog output.
type Log struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
	// Access writes one line per call.
	Access bool `yaml:"access"`
}

// Limits bound resources and time.
type Limits struct {
	MaxConnections int      `yaml:"max_connections"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	IdleTimeout    Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds a whole HTTP exchange upstream; 0 = none.
	RequestTimeout Duration `yaml:"request_timeout"`
	// HeaderTimeout bounds reading a request's headers (slowloris).
	HeaderTimeout Duration `yaml:"header_timeout"`
	// MaxHeaderBytes is the largest request header block; larger gets 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// DrainTimeout is how long SIGTERM waits for calls in flight.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// BodyTimeout bounds the gap between two reads of a request body sent
	// upstream: a caller that sends nothing for this long (a slow-body
	// attack at 1 byte per minute) has its call cut. 0 = none.
	BodyTimeout Duration `yaml:"body_timeout"`
	// MinBodyRate is the least average rate, in bytes per second, a request
	// body must keep once its first BodyTimeout has passed; slower bodies
	// (1 byte/s) are cut. 0 = no minimum.
	MinBodyRate int64 `yaml:"min_body_rate"`
	// RegistryBytes bounds the total size of the registry files read at
	// load and at every reload; a larger set is refused whole. 0 = none.
	RegistryBytes int64 `yaml:"registry_bytes"`
}
