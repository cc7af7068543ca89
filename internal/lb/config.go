// Package lb is the routing layer of a call to a declared destination
// that has a DestinationRule traffic policy: endpoint choice (load
// balancing), connection-pool accounting and outlier detection, the way
// Istio's sidecars (Envoy) apply them. It knows nothing of YAML or of the
// registry: the registry resolves a rule into a Config, the data plane
// asks a Cluster for an endpoint and reports how the call went.
package lb

import "time"

// Algorithms of LoadBalancerSettings.simple, and Hash for consistentHash.
const (
	RoundRobin   = "ROUND_ROBIN"
	LeastRequest = "LEAST_REQUEST"
	Random       = "RANDOM"
	Passthrough  = "PASSTHROUGH"
	Hash         = "CONSISTENT_HASH"
)

// Config is the traffic policy of one route (or subset): what Istio's
// precedence leaves for a port. A nil *Config means none, and a call
// takes the gateway's plain path.
type Config struct {
	LB      LBConfig      `json:"loadBalancer"`
	Pool    PoolConfig    `json:"connectionPool"`
	Outlier OutlierConfig `json:"outlierDetection"`
}

// LBConfig is the endpoint choice. Algorithm is one of the constants
// above; "" is Istio's default, LEAST_REQUEST.
type LBConfig struct {
	Algorithm string `json:"algorithm"`
	// For Hash: the key, one of a header, a query parameter or the
	// caller's IP.
	HashHeader   string `json:"httpHeaderName,omitempty"`
	HashQuery    string `json:"httpQueryParameterName,omitempty"`
	HashSourceIP bool   `json:"useSourceIp,omitempty"`
	// HashCookie is httpCookie's name; when the request has no such
	// cookie and CookieGen is set (a ttl was given; 0 is a session
	// cookie), one is generated and set on the response, with
	// CookiePath, CookieTTL and CookieAttrs ("; Name=Value"…).
	HashCookie  string        `json:"httpCookie,omitempty"`
	CookiePath  string        `json:"httpCookiePath,omitempty"`
	CookieTTL   time.Duration `json:"httpCookieTtl,omitempty"`
	CookieGen   bool          `json:"httpCookieGenerate,omitempty"`
	CookieAttrs string        `json:"httpCookieAttributes,omitempty"`
}

// PoolConfig is connectionPool; zero means no limit (Istio's defaults are
// Envoy's 2^32-1).
type PoolConfig struct {
	MaxConnections           int           `json:"maxConnections,omitempty"`
	MaxPending               int           `json:"http1MaxPendingRequests,omitempty"`
	MaxRequestsPerConnection int           `json:"maxRequestsPerConnection,omitempty"`
	MaxRetries               int           `json:"maxRetries,omitempty"` // retries in flight across the cluster
	ConnectTimeout           time.Duration `json:"connectTimeout,omitempty"`
	IdleTimeout              time.Duration `json:"idleTimeout,omitempty"`    // http.idleTimeout: pooled connections
	TCPIdleTimeout           time.Duration `json:"tcpIdleTimeout,omitempty"` // tcp.idleTimeout: pooled connections and tunnels
	MaxConnectionDuration    time.Duration `json:"maxConnectionDuration,omitempty"`
	// TCP keepalive (tcp.tcpKeepalive): KeepAlive is set when the policy
	// has one; -1 in a field leaves the system's value.
	KeepAlive         bool          `json:"tcpKeepalive,omitempty"`
	KeepAliveTime     time.Duration `json:"tcpKeepaliveTime,omitempty"`
	KeepAliveInterval time.Duration `json:"tcpKeepaliveInterval,omitempty"`
	KeepAliveProbes   int           `json:"tcpKeepaliveProbes,omitempty"`
}

// ConnLimited reports whether a connection's life is bounded: requests
// per connection, its duration or idleness.
func (p PoolConfig) ConnLimited() bool {
	return p.MaxRequestsPerConnection > 0 || p.MaxConnectionDuration > 0 || p.IdleTimeout > 0 || p.TCPIdleTimeout > 0
}

// Limited reports whether any pool limit applies.
func (p PoolConfig) Limited() bool { return p.MaxConnections > 0 || p.MaxPending > 0 }

// OutlierConfig is outlierDetection, with Istio's defaults filled in.
// Enabled is false when the rule has no outlierDetection.
type OutlierConfig struct {
	Enabled                bool          `json:"enabled"`
	Consecutive5xx         int           `json:"consecutive5xxErrors"`     // 0: off
	ConsecutiveGateway     int           `json:"consecutiveGatewayErrors"` // 0: off
	ConsecutiveLocalOrigin int           `json:"consecutiveLocalOriginFailures,omitempty"`
	SplitLocalOrigin       bool          `json:"splitExternalLocalOriginErrors,omitempty"`
	Interval               time.Duration `json:"interval"`
	BaseEjectionTime       time.Duration `json:"baseEjectionTime"`
	MaxEjectionPercent     int           `json:"maxEjectionPercent"`
	MinHealthPercent       int           `json:"minHealthPercent"`
}

// Istio's defaults for outlierDetection fields left out.
const (
	DefaultConsecutive5xx     = 5
	DefaultInterval           = 10 * time.Second
	DefaultBaseEjectionTime   = 30 * time.Second
	DefaultMaxEjectionPercent = 10
	// maxEjectionTime caps baseEjectionTime × ejections (Envoy's default).
	maxEjectionTime = 300 * time.Second
)
