package registry

// The traffic-policy messages of networking.istio.io DestinationRule,
// field for field as Istio's CRD schema spells them. Durations are kept as
// written ("200ms", "1.5s") and checked by validateDuration; integers
// Istio declares uint32 are int64 here so that a negative value reaches
// validation instead of failing to decode.

// LoadBalancerSettings is Istio's LoadBalancerSettings.
type LoadBalancerSettings struct {
	Simple             string                `yaml:"simple"`
	ConsistentHash     *ConsistentHashLB     `yaml:"consistentHash"`
	LocalityLbSetting  *LocalityLbSetting    `yaml:"localityLbSetting"`
	ZoneAwareLbSetting *ZoneAwareLbSetting   `yaml:"zoneAwareLbSetting"`
	Warmup             *WarmupConfiguration  `yaml:"warmup"`
	WarmupDurationSecs string                `yaml:"warmupDurationSecs"`
	BackendUtilization *BackendUtilizationLB `yaml:"backendUtilization"`
}

// ConsistentHashLB is Istio's LoadBalancerSettings.ConsistentHashLB.
type ConsistentHashLB struct {
	HTTPHeaderName         string      `yaml:"httpHeaderName"`
	HTTPCookie             *HTTPCookie `yaml:"httpCookie"`
	UseSourceIP            *bool       `yaml:"useSourceIp"`
	HTTPQueryParameterName string      `yaml:"httpQueryParameterName"`
	RingHash               *RingHash   `yaml:"ringHash"`
	Maglev                 *MagLev     `yaml:"maglev"`
	MinimumRingSize        int64       `yaml:"minimumRingSize"`
}

// HTTPCookie is the cookie a consistent hash may key on.
type HTTPCookie struct {
	Name       string            `yaml:"name"`
	Path       string            `yaml:"path"`
	TTL        string            `yaml:"ttl"`
	Attributes []CookieAttribute `yaml:"attributes"`
}

// CookieAttribute is one attribute of a generated cookie.
type CookieAttribute struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// RingHash is the ring-hash algorithm of a consistent hash.
type RingHash struct {
	MinimumRingSize int64 `yaml:"minimumRingSize"`
}

// MagLev is the Maglev algorithm of a consistent hash.
type MagLev struct {
	TableSize int64 `yaml:"tableSize"`
}

// LocalityLbSetting is Istio's LocalityLoadBalancerSetting.
type LocalityLbSetting struct {
	Enabled          *bool                `yaml:"enabled"`
	Distribute       []LocalityDistribute `yaml:"distribute"`
	Failover         []LocalityFailover   `yaml:"failover"`
	FailoverPriority []string             `yaml:"failoverPriority"`
}

// LocalityDistribute is one distribute rule of a locality setting.
type LocalityDistribute struct {
	From string           `yaml:"from"`
	To   map[string]int64 `yaml:"to"`
}

// LocalityFailover is one failover rule of a locality setting.
type LocalityFailover struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// ZoneAwareLbSetting is Istio's ZoneAwareLoadBalancerSetting.
type ZoneAwareLbSetting struct {
	Enabled          *bool              `yaml:"enabled"`
	Failover         []LocalityFailover `yaml:"failover"`
	FailoverPriority []string           `yaml:"failoverPriority"`
	MinClusterSize   *int64             `yaml:"minClusterSize"`
}

// WarmupConfiguration is Istio's slow-start setting.
type WarmupConfiguration struct {
	Duration       string   `yaml:"duration"`
	MinimumPercent *float64 `yaml:"minimumPercent"`
	Aggression     *float64 `yaml:"aggression"`
}

// BackendUtilizationLB is Istio's client-side weighted round robin.
type BackendUtilizationLB struct {
	ErrorUtilizationPenaltyPercent     int64    `yaml:"errorUtilizationPenaltyPercent"`
	MetricNamesForComputingUtilization []string `yaml:"metricNamesForComputingUtilization"`
	WeightExpirationPeriod             string   `yaml:"weightExpirationPeriod"`
	WeightStabilizationPeriod          string   `yaml:"weightStabilizationPeriod"`
	WeightUpdatePeriod                 string   `yaml:"weightUpdatePeriod"`
}

// ConnectionPoolSettings is Istio's ConnectionPoolSettings.
type ConnectionPoolSettings struct {
	TCP  *TCPSettings  `yaml:"tcp"`
	HTTP *HTTPSettings `yaml:"http"`
}

// TCPSettings is Istio's ConnectionPoolSettings.TCPSettings.
type TCPSettings struct {
	MaxConnections        int64         `yaml:"maxConnections"`
	ConnectTimeout        string        `yaml:"connectTimeout"`
	TCPKeepalive          *TCPKeepalive `yaml:"tcpKeepalive"`
	MaxConnectionDuration string        `yaml:"maxConnectionDuration"`
	IdleTimeout           string        `yaml:"idleTimeout"`
}

// TCPKeepalive is Istio's TCP keepalive setting.
type TCPKeepalive struct {
	Probes   int64  `yaml:"probes"`
	Time     string `yaml:"time"`
	Interval string `yaml:"interval"`
}

// HTTPSettings is Istio's ConnectionPoolSettings.HTTPSettings.
type HTTPSettings struct {
	HTTP1MaxPendingRequests  int64                `yaml:"http1MaxPendingRequests"`
	HTTP2MaxRequests         int64                `yaml:"http2MaxRequests"`
	MaxRequestsPerConnection int64                `yaml:"maxRequestsPerConnection"`
	MaxRetries               int64                `yaml:"maxRetries"`
	IdleTimeout              string               `yaml:"idleTimeout"`
	H2UpgradePolicy          string               `yaml:"h2UpgradePolicy"`
	UseClientProtocol        bool                 `yaml:"useClientProtocol"`
	MaxConcurrentStreams     int64                `yaml:"maxConcurrentStreams"`
	HTTP2KeepAlive           *ConnectionKeepalive `yaml:"http2KeepAlive"`
}

// ConnectionKeepalive is the HTTP/2 keepalive of a connection pool.
type ConnectionKeepalive struct {
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
}

// OutlierDetection is Istio's OutlierDetection (circuit breaking).
type OutlierDetection struct {
	SplitExternalLocalOriginErrors bool    `yaml:"splitExternalLocalOriginErrors"`
	ConsecutiveLocalOriginFailures *int64  `yaml:"consecutiveLocalOriginFailures"`
	ConsecutiveGatewayErrors       *int64  `yaml:"consecutiveGatewayErrors"`
	Consecutive5xxErrors           *int64  `yaml:"consecutive5xxErrors"`
	Interval                       string  `yaml:"interval"`
	BaseEjectionTime               string  `yaml:"baseEjectionTime"`
	MaxEjectionPercent             int64   `yaml:"maxEjectionPercent"`
	MinHealthPercent               int64   `yaml:"minHealthPercent"`
	ConsecutiveErrors              int64   `yaml:"consecutiveErrors"`
	OutlierDetectionHTTPErrorCodes []int64 `yaml:"outlierDetectionHttpErrorCodes"`
}

// TunnelSettings is Istio's TrafficPolicy.TunnelSettings.
type TunnelSettings struct {
	Protocol   string `yaml:"protocol"`
	TargetHost string `yaml:"targetHost"`
	TargetPort int64  `yaml:"targetPort"`
}

// ProxyProtocol is Istio's TrafficPolicy.ProxyProtocol.
type ProxyProtocol struct {
	Version string `yaml:"version"`
}

// RetryBudget is Istio's TrafficPolicy.RetryBudget.
type RetryBudget struct {
	Percent             *float64 `yaml:"percent"`
	MinRetryConcurrency int64    `yaml:"minRetryConcurrency"`
	BudgetInterval      string   `yaml:"budgetInterval"`
}
