package registry

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The traffic-policy checks of Istio's pkg/config/validation
// (validateOutlierDetection, validateConnectionPool, validateLoadBalancer,
// validateTunnelSettings, agent.ValidateDuration,
// agent.ValidateLocalityLbSetting, agent.ValidateZoneAwareLbSetting) with
// Istio's messages, plus what Istio leaves to the CRD schema (enums as the
// CRD spells them, one-of groups, uint32 ranges, duration syntax) in
// Sluice's wording.

// Enums of the DestinationRule CRD, spelt as the API server requires.
var (
	lbSimpleValues      = []string{"UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"}
	h2UpgradeValues     = []string{"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"}
	proxyProtocolValues = []string{"V1", "V2"}
)

// checker collects the findings of one resource.
type checker struct {
	r  *Resource
	ds Diagnostics
}

func (c *checker) errf(field, format string, a ...any) {
	c.ds = append(c.ds, c.r.diag(SevError, field, format, a...))
}

func (c *checker) warnf(field, format string, a ...any) {
	c.ds = append(c.ds, c.r.diag(SevWarning, field, format, a...))
}

// enum reports a value the CRD's enum does not list. Lower-case
// spellings are refused, as the API server refuses them.
func (c *checker) enum(field, v string, allowed []string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.errf(field, "unsupported value %q (want %s)", v, strings.Join(allowed, ", "))
}

// uint32Range reports a value outside what the CRD's uint32 allows.
func (c *checker) uint32Range(field string, v int64) {
	if v < 0 || v > math.MaxUint32 {
		c.errf(field, "%d is out of range 0..4294967295", v)
	}
}

// uint64Range reports a negative value where the CRD's uint64 allows
// none.
func (c *checker) uint64Range(field string, v int64) {
	if v < 0 {
		c.errf(field, "%v is less than the minimum 0", v)
	}
}

// oneOf reports more than one member of a CRD one-of group set.
func (c *checker) oneOf(field string, names []string, set ...bool) {
	var got []string
	for i, s := range set {
		if s {
			got = append(got, names[i])
		}
	}
	if len(got) > 1 {
		c.errf(field, "only one of %s may be set", strings.Join(got, ", "))
	}
}

// ParseDuration reads a duration as Istio's resources write it: Go's
// syntax ("200ms", "1m30s"), which includes protobuf JSON's "1.5s".
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// duration is agent.ValidateDuration for a set duration field.
func (c *checker) duration(field, s string) {
	if s == "" {
		return
	}
	d, err := ParseDuration(s)
	switch {
	case err != nil:
		c.errf(field, "%v", err)
	case d < time.Millisecond:
		c.errf(field, "duration must be greater than 1ms")
	case d%time.Millisecond != 0:
		c.errf(field, "only durations to ms precision are supported")
	}
}

// syntax reports an unparseable duration where Istio has no range rule.
func (c *checker) syntax(field, s string) {
	if s == "" {
		return
	}
	if _, err := ParseDuration(s); err != nil {
		c.errf(field, "%v", err)
	}
}

// percent is Istio's ValidatePercent.
func (c *checker) percent(field string, v int64) {
	if v < 0 || v > 100 {
		c.errf(field, "percentage %v is not in range 0..100", v)
	}
}

func (c *checker) outlierDetection(f string, o *OutlierDetection) {
	if o == nil {
		return
	}
	c.duration(f+".baseEjectionTime", o.BaseEjectionTime)
	if o.ConsecutiveErrors != 0 {
		c.warnf(f+".consecutiveErrors", "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead")
	}
	if !o.SplitExternalLocalOriginErrors && o.ConsecutiveLocalOriginFailures != nil && *o.ConsecutiveLocalOriginFailures > 0 {
		c.errf(f+".consecutiveLocalOriginFailures", "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false")
	}
	c.duration(f+".interval", o.Interval)
	c.percent(f+".maxEjectionPercent", o.MaxEjectionPercent)
	c.percent(f+".minHealthPercent", o.MinHealthPercent)
	for name, p := range map[string]*int64{"consecutive5xxErrors": o.Consecutive5xxErrors, "consecutiveGatewayErrors": o.ConsecutiveGatewayErrors, "consecutiveLocalOriginFailures": o.ConsecutiveLocalOriginFailures} {
		if p != nil {
			c.uint32Range(f+"."+name, *p)
		}
	}
	for i, code := range o.OutlierDetectionHTTPErrorCodes {
		if code < 100 || code > 599 {
			c.errf(fmt.Sprintf("%s.outlierDetectionHttpErrorCodes[%d]", f, i), "%d is out of range 100..599", code)
		}
	}
}

func (c *checker) connectionPool(f string, s *ConnectionPoolSettings) {
	if s == nil {
		return
	}
	if s.HTTP == nil && s.TCP == nil {
		c.errf(f, "connection pool must have at least one field")
		return
	}
	if h := s.HTTP; h != nil {
		hf := f + ".http"
		if h.HTTP1MaxPendingRequests < 0 {
			c.errf(hf+".http1MaxPendingRequests", "http1 max pending requests must be non-negative")
		}
		if h.HTTP2MaxRequests < 0 {
			c.errf(hf+".http2MaxRequests", "http2 max requests must be non-negative")
		}
		if h.MaxRequestsPerConnection < 0 {
			c.errf(hf+".maxRequestsPerConnection", "max requests per connection must be non-negative")
		}
		if h.MaxRetries < 0 {
			c.errf(hf+".maxRetries", "max retries must be non-negative")
		}
		c.duration(hf+".idleTimeout", h.IdleTimeout)
		c.enum(hf+".h2UpgradePolicy", h.H2UpgradePolicy, h2UpgradeValues)
		if h.H2UpgradePolicy == "UPGRADE" && h.UseClientProtocol {
			c.errf(hf+".useClientProtocol", "use client protocol must not be true when H2UpgradePolicy is UPGRADE")
		}
		if h.MaxConcurrentStreams < 0 {
			c.errf(hf+".maxConcurrentStreams", "max concurrent streams must be non-negative")
		}
		if ka := h.HTTP2KeepAlive; ka != nil {
			if ka.Interval == "" {
				c.errf(hf+".http2KeepAlive.interval", "http2 keepalive interval is required")
			} else {
				c.duration(hf+".http2KeepAlive.interval", ka.Interval)
			}
			if ka.Timeout == "" {
				c.errf(hf+".http2KeepAlive.timeout", "http2 keepalive timeout is required")
			} else {
				c.duration(hf+".http2KeepAlive.timeout", ka.Timeout)
			}
		}
	}
	if t := s.TCP; t != nil {
		tf := f + ".tcp"
		if t.MaxConnections < 0 {
			c.errf(tf+".maxConnections", "max connections must be non-negative")
		}
		c.duration(tf+".connectTimeout", t.ConnectTimeout)
		c.duration(tf+".maxConnectionDuration", t.MaxConnectionDuration)
		// 0s disables the idle timeout; Istio skips the check for it.
		if d, err := ParseDuration(t.IdleTimeout); t.IdleTimeout != "" && (err != nil || d.Milliseconds() != 0) {
			c.duration(tf+".idleTimeout", t.IdleTimeout)
		}
		if ka := t.TCPKeepalive; ka != nil {
			c.duration(tf+".tcpKeepalive.time", ka.Time)
			c.duration(tf+".tcpKeepalive.interval", ka.Interval)
			c.uint32Range(tf+".tcpKeepalive.probes", ka.Probes)
		}
	}
}

func (c *checker) loadBalancer(f string, s *LoadBalancerSettings, outlier *OutlierDetection) {
	if s == nil {
		return
	}
	c.oneOf(f, []string{"simple", "consistentHash", "backendUtilization"}, s.Simple != "", s.ConsistentHash != nil, s.BackendUtilization != nil)
	c.enum(f+".simple", s.Simple, lbSimpleValues)
	if ch := s.ConsistentHash; ch != nil {
		cf := f + ".consistentHash"
		c.oneOf(cf, []string{"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"},
			ch.HTTPHeaderName != "", ch.HTTPCookie != nil, ch.UseSourceIP != nil, ch.HTTPQueryParameterName != "")
		c.oneOf(cf, []string{"ringHash", "maglev"}, ch.RingHash != nil, ch.Maglev != nil)
		if ck := ch.HTTPCookie; ck != nil {
			if ck.Name == "" {
				c.errf(cf+".httpCookie.name", "name required for HttpCookie")
			}
			c.syntax(cf+".httpCookie.ttl", ck.TTL)
			seen := map[string]bool{}
			for i, a := range ck.Attributes {
				af := fmt.Sprintf("%s.httpCookie.attributes[%d].name", cf, i)
				switch {
				case a.Name == "":
					c.errf(af, "cookie attribute name cannot be empty")
				case seen[a.Name]:
					c.errf(af, "duplicate cookie attribute name: %s", a.Name)
				default:
					seen[a.Name] = true
				}
			}
		}
		c.uint64Range(cf+".minimumRingSize", ch.MinimumRingSize)
		if ch.RingHash != nil {
			c.uint64Range(cf+".ringHash.minimumRingSize", ch.RingHash.MinimumRingSize)
		}
		if ch.MinimumRingSize != 0 {
			c.warnf(cf+".minimumRingSize", "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead")
			if ch.RingHash != nil || ch.Maglev != nil {
				c.errf(cf+".minimumRingSize", "only one of MinimumRingSize or Maglev/Ringhash can be specified")
			}
		}
		if ml := ch.Maglev; ml != nil {
			mf := cf + ".maglev.tableSize"
			if ml.TableSize == 0 {
				c.errf(mf, "tableSize must be set for maglev")
			}
			if ml.TableSize >= 5000011 {
				c.errf(mf, "tableSize must be less than 5000011 for maglev")
			}
			if ml.TableSize < 0 || !isPrime(uint64(ml.TableSize)) {
				c.errf(mf, "tableSize must be a prime number for maglev")
			}
		}
	}
	if s.LocalityLbSetting != nil && s.ZoneAwareLbSetting != nil {
		c.errf(f, "only one of localityLbSetting and zoneAwareLbSetting can be set")
	}
	c.localityLb(f+".localityLbSetting", s.LocalityLbSetting, outlier)
	c.zoneAwareLb(f+".zoneAwareLbSetting", s.ZoneAwareLbSetting, outlier)
	if w := s.Warmup; w != nil {
		if w.Duration == "" {
			c.errf(f+".warmup.duration", "duration is required")
		} else {
			c.duration(f+".warmup.duration", w.Duration)
		}
		if w.MinimumPercent != nil && *w.MinimumPercent > 100 {
			c.errf(f+".warmup.minimumPercent", "minimumPercent value should be less than or equal to 100")
		}
		if w.MinimumPercent != nil && *w.MinimumPercent < 0 { // the CRD's minimum
			c.errf(f+".warmup.minimumPercent", "%v is less than the minimum 0", *w.MinimumPercent)
		}
		if w.Aggression != nil && *w.Aggression <= 0 {
			c.errf(f+".warmup.aggression", "aggression should be greater than 0")
		}
	}
	c.duration(f+".warmupDurationSecs", s.WarmupDurationSecs)
	if b := s.BackendUtilization; b != nil {
		bf := f + ".backendUtilization"
		c.uint32Range(bf+".errorUtilizationPenaltyPercent", b.ErrorUtilizationPenaltyPercent)
		c.syntax(bf+".weightExpirationPeriod", b.WeightExpirationPeriod)
		c.syntax(bf+".weightStabilizationPeriod", b.WeightStabilizationPeriod)
		c.syntax(bf+".weightUpdatePeriod", b.WeightUpdatePeriod)
	}
}

// localityLb is agent.ValidateLocalityLbSetting.
func (c *checker) localityLb(f string, lb *LocalityLbSetting, outlier *OutlierDetection) {
	if lb == nil {
		return
	}
	if len(lb.Distribute) > 0 && len(lb.Failover) > 0 {
		c.errf(f, "can not simultaneously specify 'distribute' and 'failover'")
		return
	}
	if len(lb.Failover) > 0 {
		for _, p := range lb.FailoverPriority {
			if isTopologyLabel(p) {
				c.errf(f+".failoverPriority", "can not simultaneously set 'failover' and topology label '%s' in 'failover_priority'", p)
				return
			}
		}
	}
	var src []string
	for i, d := range lb.Distribute {
		src = append(src, d.From)
		var total int64
		var dst []string
		for _, loc := range sortedKeys(d.To) {
			w := d.To[loc]
			dst = append(dst, loc)
			if w <= 0 || w > 100 {
				c.errf(fmt.Sprintf("%s.distribute[%d].to", f, i), "locality weight must be in range [1, 100]")
				return
			}
			total += w
		}
		if total != 100 {
			c.errf(fmt.Sprintf("%s.distribute[%d].to", f, i), "total locality weight %v != 100", total)
			return
		}
		c.localities(fmt.Sprintf("%s.distribute[%d].to", f, i), dst)
	}
	c.localities(f+".distribute", src)
	if (len(lb.Failover) != 0 || len(lb.FailoverPriority) != 0) && outlier == nil {
		c.warnf(f, "outlier detection policy must be provided for failover")
	}
	for i, fo := range lb.Failover {
		if fo.From == fo.To {
			c.errf(fmt.Sprintf("%s.failover[%d]", f, i), "locality lb failover settings must specify different regions")
		}
		if strings.Contains(fo.From, "/") || strings.Contains(fo.To, "/") {
			c.errf(fmt.Sprintf("%s.failover[%d]", f, i), "locality lb failover only specify region")
		}
		if strings.Contains(fo.To, "*") || strings.Contains(fo.From, "*") {
			c.errf(fmt.Sprintf("%s.failover[%d]", f, i), "locality lb failover region should not contain '*' wildcard")
		}
	}
}

// localities is Istio's validateLocalities: one trailing wildcard at
// most, no empty region, zone or subzone, and no locality that overlaps
// one before it (a region, then a zone in it; "*", then anything). The
// first finding ends the check, as in Istio.
func (c *checker) localities(f string, locs []string) {
	if err := validateLocalities(locs); err != nil {
		c.errf(f, "%v", err)
	}
}

func validateLocalities(locs []string) error {
	// region → zone → subzone; "*" stands for all of a level.
	seen := map[string]map[string]map[string]bool{}
	for _, l := range locs {
		if n := strings.Count(l, "*"); n > 0 && (n > 1 || !strings.HasSuffix(l, "*")) {
			return fmt.Errorf("locality %s wildcard '*' number can not exceed 1 and must be in the end", l)
		}
		overlap := fmt.Errorf("locality %s overlap with previous specified ones", l)
		if _, ok := seen["*"]; ok {
			return overlap
		}
		items := strings.SplitN(l, "/", 3)
		for _, it := range items {
			if it == "" {
				return fmt.Errorf("locality %s must not contain empty region/zone/subzone info", l)
			}
		}
		region := items[0]
		zones, ok := seen[region]
		switch len(items) {
		case 1:
			if ok {
				return overlap
			}
			seen[region] = map[string]map[string]bool{"*": {"*": true}}
		case 2:
			zone := items[1]
			if !ok {
				seen[region] = map[string]map[string]bool{zone: {"*": true}}
				break
			}
			if _, all := zones["*"]; all {
				return overlap
			}
			if _, dup := zones[zone]; dup {
				return overlap
			}
			zones[zone] = map[string]bool{"*": true}
		case 3:
			zone, sub := items[1], items[2]
			if !ok {
				seen[region] = map[string]map[string]bool{zone: {sub: true}}
				break
			}
			if _, all := zones["*"]; all {
				return overlap
			}
			subs, ok := zones[zone]
			if !ok {
				zones[zone] = map[string]bool{sub: true}
				break
			}
			if subs["*"] || subs[sub] {
				return overlap
			}
			subs[sub] = true
		}
	}
	return nil
}

// zoneAwareLb is agent.ValidateZoneAwareLbSetting.
func (c *checker) zoneAwareLb(f string, lb *ZoneAwareLbSetting, outlier *OutlierDetection) {
	if lb == nil {
		return
	}
	for _, p := range lb.FailoverPriority {
		if isTopologyLabel(p) {
			c.errf(f+".failoverPriority", "'failover_priority' for zone aware lb must not use topology label '%s'; region- and zone-level routing are handled automatically", p)
		}
	}
	if (len(lb.Failover) != 0 || len(lb.FailoverPriority) != 0) && outlier == nil {
		c.warnf(f, "outlier detection policy must be provided for failover")
	}
	for i, fo := range lb.Failover {
		ff := fmt.Sprintf("%s.failover[%d]", f, i)
		if fo.From == fo.To {
			c.errf(ff, "zone aware lb failover settings must specify different regions")
		}
		if strings.Contains(fo.From, "/") || strings.Contains(fo.To, "/") {
			c.errf(ff, "zone aware lb failover only specifies region; zone and subzone failover are handled automatically")
		}
		if strings.Contains(fo.To, "*") || strings.Contains(fo.From, "*") {
			c.errf(ff, "zone aware lb failover region should not contain '*' wildcard")
		}
	}
	if lb.MinClusterSize != nil && (*lb.MinClusterSize < 1 || *lb.MinClusterSize > math.MaxUint32) {
		c.errf(f+".minClusterSize", "%d is out of range 1..4294967295", *lb.MinClusterSize)
	}
}

func isTopologyLabel(l string) bool {
	switch l {
	case "topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone":
		return true
	}
	return false
}

// isPrime is Istio's (and Envoy's) isPrime for Maglev table sizes.
func isPrime(x uint64) bool {
	if x != 0 && x < 4 {
		return true
	} else if x&1 == 0 {
		return false
	}
	limit := uint64(math.Sqrt(float64(x)))
	for factor := uint64(3); factor <= limit; factor += 2 {
		if x%factor == 0 {
			return false
		}
	}
	return true
}

// tunnel is Istio's validateTunnelSettings.
func (c *checker) tunnel(f string, t *TunnelSettings) {
	if t == nil {
		return
	}
	if t.Protocol != "" && t.Protocol != "CONNECT" && t.Protocol != "POST" {
		c.errf(f+".protocol", "tunnel protocol must be \"CONNECT\" or \"POST\"")
	}
	fqdnErr := validateFQDN(t.TargetHost)
	ipErr := validateIPAddress(t.TargetHost)
	if fqdnErr != nil && ipErr != nil {
		c.errf(f+".targetHost", "tunnel target host must be valid FQDN or IP address: %s; %s", fqdnErr, ipErr)
	}
	if !validPort(int(t.TargetPort)) {
		c.errf(f+".targetPort", "tunnel target port is invalid: port number %d must be in the range 1..65535", t.TargetPort)
	}
}

func (c *checker) proxyProtocol(f string, p *ProxyProtocol) {
	if p == nil {
		return
	}
	c.enum(f+".version", p.Version, proxyProtocolValues)
}

func (c *checker) retryBudget(f string, b *RetryBudget) {
	if b == nil {
		return
	}
	if b.Percent != nil && (*b.Percent < 0 || *b.Percent > 100) {
		c.errf(f+".percent", "percentage %v is not in range 0..100", *b.Percent)
	}
	c.uint32Range(f+".minRetryConcurrency", b.MinRetryConcurrency)
	c.syntax(f+".budgetInterval", b.BudgetInterval)
}
