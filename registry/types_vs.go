package registry

// VirtualServiceSpec is networking.istio.io VirtualService.spec. The
// fields Sluice routes by are typed to the leaf; the HTTP features it
// does not apply (redirects, rewrites, fault injection, mirroring, CORS,
// header manipulation, delegation) are kept as raw values and warned
// about by name.
type VirtualServiceSpec struct {
	Hosts    []string    `yaml:"hosts"`
	Gateways []string    `yaml:"gateways"`
	HTTP     []HTTPRoute `yaml:"http"`
	TLS      []TLSRoute  `yaml:"tls"`
	TCP      []TCPRoute  `yaml:"tcp"`
	ExportTo []string    `yaml:"exportTo"`
}

// HTTPRoute is one rule of a VirtualService's http list.
type HTTPRoute struct {
	Name             string                 `yaml:"name"`
	Match            []HTTPMatchRequest     `yaml:"match"`
	Route            []HTTPRouteDestination `yaml:"route"`
	Timeout          string                 `yaml:"timeout"`
	Retries          *HTTPRetry             `yaml:"retries"`
	Redirect         any                    `yaml:"redirect"`
	DirectResponse   any                    `yaml:"directResponse"`
	Delegate         any                    `yaml:"delegate"`
	Rewrite          any                    `yaml:"rewrite"`
	Fault            any                    `yaml:"fault"`
	Mirror           any                    `yaml:"mirror"`
	Mirrors          any                    `yaml:"mirrors"`
	MirrorPercent    any                    `yaml:"mirrorPercent"`
	MirrorPercentAlt any                    `yaml:"mirror_percent"`
	MirrorPercentage any                    `yaml:"mirrorPercentage"`
	CorsPolicy       any                    `yaml:"corsPolicy"`
	Headers          any                    `yaml:"headers"`
}

// HTTPMatchRequest is one match condition of an HTTP route.
type HTTPMatchRequest struct {
	Name            string                  `yaml:"name"`
	URI             *StringMatch            `yaml:"uri"`
	Scheme          *StringMatch            `yaml:"scheme"`
	Method          *StringMatch            `yaml:"method"`
	Authority       *StringMatch            `yaml:"authority"`
	Headers         map[string]*StringMatch `yaml:"headers"`
	Port            int64                   `yaml:"port"`
	SourceLabels    map[string]string       `yaml:"sourceLabels"`
	Gateways        []string                `yaml:"gateways"`
	QueryParams     map[string]*StringMatch `yaml:"queryParams"`
	IgnoreURICase   bool                    `yaml:"ignoreUriCase"`
	WithoutHeaders  map[string]*StringMatch `yaml:"withoutHeaders"`
	SourceNamespace string                  `yaml:"sourceNamespace"`
	StatPrefix      string                  `yaml:"statPrefix"`
}

// StringMatch is exact, prefix or regex (RE2, whole string).
type StringMatch struct {
	Exact  *string `yaml:"exact"`
	Prefix *string `yaml:"prefix"`
	Regex  *string `yaml:"regex"`
}

// HTTPRouteDestination is one weighted destination of an HTTP route.
type HTTPRouteDestination struct {
	Destination *Destination `yaml:"destination"`
	Weight      int64        `yaml:"weight"`
	Headers     any          `yaml:"headers"`
}

// Destination names a service, subset and port.
type Destination struct {
	Host   string        `yaml:"host"`
	Subset string        `yaml:"subset"`
	Port   *PortSelector `yaml:"port"`
}

// HTTPRetry is a route's retry policy.
type HTTPRetry struct {
	Attempts                 int64  `yaml:"attempts"`
	PerTryTimeout            string `yaml:"perTryTimeout"`
	RetryOn                  string `yaml:"retryOn"`
	RetryRemoteLocalities    *bool  `yaml:"retryRemoteLocalities"`
	RetryIgnorePreviousHosts *bool  `yaml:"retryIgnorePreviousHosts"`
	Backoff                  string `yaml:"backoff"`
}

// TLSRoute routes passthrough TLS by SNI.
type TLSRoute struct {
	Match []TLSMatchAttributes `yaml:"match"`
	Route []RouteDestination   `yaml:"route"`
}

// TLSMatchAttributes matches passthrough TLS.
type TLSMatchAttributes struct {
	SNIHosts           []string          `yaml:"sniHosts"`
	DestinationSubnets []string          `yaml:"destinationSubnets"`
	Port               int64             `yaml:"port"`
	SourceLabels       map[string]string `yaml:"sourceLabels"`
	Gateways           []string          `yaml:"gateways"`
	SourceNamespace    string            `yaml:"sourceNamespace"`
}

// TCPRoute routes TCP by port.
type TCPRoute struct {
	Match []L4MatchAttributes `yaml:"match"`
	Route []RouteDestination  `yaml:"route"`
}

// L4MatchAttributes matches TCP.
type L4MatchAttributes struct {
	DestinationSubnets []string          `yaml:"destinationSubnets"`
	Port               int64             `yaml:"port"`
	SourceLabels       map[string]string `yaml:"sourceLabels"`
	Gateways           []string          `yaml:"gateways"`
	SourceNamespace    string            `yaml:"sourceNamespace"`
	SourceSubnet       string            `yaml:"sourceSubnet"`
}

// RouteDestination is one weighted destination of a TLS or TCP route.
type RouteDestination struct {
	Destination *Destination `yaml:"destination"`
	Weight      int64        `yaml:"weight"`
}
