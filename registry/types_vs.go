package registry

// VirtualServiceSpec is networking.istio.io VirtualService.spec. Every
// field of Istio's schema is typed to the leaf, so that a misspelt key
// anywhere is an error and every value can be checked as Istio checks
// it; the HTTP features Sluice does not apply (redirects, rewrites,
// fault injection, mirroring, CORS, header manipulation, delegation) are
// validated, then warned about by name (unappliedVS).
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
	Redirect         *HTTPRedirect          `yaml:"redirect"`
	DirectResponse   *HTTPDirectResponse    `yaml:"directResponse"`
	Delegate         *Delegate              `yaml:"delegate"`
	Rewrite          *HTTPRewrite           `yaml:"rewrite"`
	Fault            *HTTPFaultInjection    `yaml:"fault"`
	Mirror           *Destination           `yaml:"mirror"`
	Mirrors          []*HTTPMirrorPolicy    `yaml:"mirrors"`
	MirrorPercent    *int64                 `yaml:"mirrorPercent"`
	MirrorPercentAlt *int64                 `yaml:"mirror_percent"`
	MirrorPercentage *Percent               `yaml:"mirrorPercentage"`
	CorsPolicy       *CorsPolicy            `yaml:"corsPolicy"`
	Headers          *Headers               `yaml:"headers"`
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
	Headers     *Headers     `yaml:"headers"`
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
