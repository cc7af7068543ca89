package registry

import (
	"strconv"

	"github.com/sluicehq/sluice/internal/lb"
)

// trafficFor resolves the load balancing, connection pool and outlier
// detection of dr for a port, with Istio's precedence: a portLevelSettings
// entry for the port replaces the top-level policy entirely (its absent
// parts fall back to defaults, not to the top level). nil means none of
// the three is set, and calls take the plain path.
func (b *builder) trafficFor(dr *Resource, e *Entry, port int) (*lb.Config, string) {
	tp := dr.DestinationRule.TrafficPolicy
	if tp == nil {
		return nil, ""
	}
	lbs, pool, od := tp.LoadBalancer, tp.ConnectionPool, tp.OutlierDetection
	for _, pl := range tp.PortLevelSettings {
		if pl.Port != nil && pl.Port.Number == port {
			lbs, pool, od = pl.LoadBalancer, pl.ConnectionPool, pl.OutlierDetection
			break
		}
	}
	if lbs == nil && pool == nil && od == nil {
		return nil, ""
	}
	cfg := &lb.Config{LB: lbConfig(lbs), Pool: poolConfig(pool), Outlier: outlierConfig(od)}
	return cfg, e.Namespace + "/" + e.Name + ":" + strconv.Itoa(port)
}

func lbConfig(s *LoadBalancerSettings) lb.LBConfig {
	var c lb.LBConfig
	if s == nil {
		return c
	}
	switch s.Simple {
	case "ROUND_ROBIN":
		c.Algorithm = lb.RoundRobin
	case "RANDOM":
		c.Algorithm = lb.Random
	case "PASSTHROUGH":
		c.Algorithm = lb.Passthrough
	case "LEAST_REQUEST", "LEAST_CONN":
		c.Algorithm = lb.LeastRequest
	}
	if ch := s.ConsistentHash; ch != nil {
		c.Algorithm = lb.Hash
		c.HashHeader, c.HashQuery = ch.HTTPHeaderName, ch.HTTPQueryParameterName
		c.HashSourceIP = ch.UseSourceIP != nil && *ch.UseSourceIP
		if ck := ch.HTTPCookie; ck != nil {
			c.HashCookie, c.CookiePath = ck.Name, ck.Path
			if ck.TTL != "" {
				c.CookieGen = true
				c.CookieTTL, _ = ParseDuration(ck.TTL)
			}
			for _, a := range ck.Attributes {
				c.CookieAttrs += "; " + a.Name
				if a.Value != "" {
					c.CookieAttrs += "=" + a.Value
				}
			}
		}
	}
	return c
}

func poolConfig(s *ConnectionPoolSettings) lb.PoolConfig {
	var c lb.PoolConfig
	if s == nil {
		return c
	}
	if t := s.TCP; t != nil {
		c.MaxConnections = int(t.MaxConnections)
		c.ConnectTimeout, _ = ParseDuration(orZero(t.ConnectTimeout))
		c.TCPIdleTimeout, _ = ParseDuration(orZero(t.IdleTimeout))
		c.MaxConnectionDuration, _ = ParseDuration(orZero(t.MaxConnectionDuration))
		if k := t.TCPKeepalive; k != nil {
			c.KeepAlive, c.KeepAliveTime, c.KeepAliveInterval, c.KeepAliveProbes = true, -1, -1, -1
			if d, err := ParseDuration(k.Time); err == nil && d > 0 {
				c.KeepAliveTime = d
			}
			if d, err := ParseDuration(k.Interval); err == nil && d > 0 {
				c.KeepAliveInterval = d
			}
			if k.Probes > 0 {
				c.KeepAliveProbes = int(k.Probes)
			}
		}
	}
	if h := s.HTTP; h != nil {
		c.MaxPending = int(h.HTTP1MaxPendingRequests)
		c.MaxRetries = int(h.MaxRetries)
		c.MaxRequestsPerConnection = int(h.MaxRequestsPerConnection)
		c.IdleTimeout, _ = ParseDuration(orZero(h.IdleTimeout))
	}
	return c
}

func outlierConfig(o *OutlierDetection) lb.OutlierConfig {
	if o == nil {
		return lb.OutlierConfig{}
	}
	c := lb.OutlierConfig{Enabled: true, Consecutive5xx: lb.DefaultConsecutive5xx, Interval: lb.DefaultInterval,
		BaseEjectionTime: lb.DefaultBaseEjectionTime, MaxEjectionPercent: lb.DefaultMaxEjectionPercent,
		MinHealthPercent: int(o.MinHealthPercent), SplitLocalOrigin: o.SplitExternalLocalOriginErrors}
	if o.Consecutive5xxErrors != nil {
		c.Consecutive5xx = int(*o.Consecutive5xxErrors)
	}
	if o.ConsecutiveGatewayErrors != nil {
		c.ConsecutiveGateway = int(*o.ConsecutiveGatewayErrors)
	}
	if o.ConsecutiveLocalOriginFailures != nil {
		c.ConsecutiveLocalOrigin = int(*o.ConsecutiveLocalOriginFailures)
	} else if c.SplitLocalOrigin {
		c.ConsecutiveLocalOrigin = 5 // Istio's default
	}
	if d, err := ParseDuration(orZero(o.Interval)); err == nil && d > 0 {
		c.Interval = d
	}
	if d, err := ParseDuration(orZero(o.BaseEjectionTime)); err == nil && d > 0 {
		c.BaseEjectionTime = d
	}
	if o.MaxEjectionPercent != 0 {
		c.MaxEjectionPercent = int(o.MaxEjectionPercent)
	}
	return c
}

func orZero(s string) string {
	if s == "" {
		return "0s"
	}
	return s
}
