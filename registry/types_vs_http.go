package registry

// The HTTP features of a VirtualService rule that Sluice validates but
// does not apply, field for field as Istio's CRD schema spells them
// (networking.istio.io HTTPRedirect, HTTPDirectResponse, Delegate,
// HTTPRewrite, HTTPFaultInjection, HTTPMirrorPolicy, CorsPolicy,
// Headers). They are typed, not kept raw, so that a misspelt key is an
// error and each value is checked as Istio's webhook checks it. Integers
// the CRD declares uint32 or int32 are int64 here so that an out-of-range
// value reaches validation instead of failing to decode.

// HTTPRedirect is Istio's HTTPRedirect.
type HTTPRedirect struct {
	URI           string `yaml:"uri"`
	Authority     string `yaml:"authority"`
	Port          *int64 `yaml:"port"`
	DerivePort    string `yaml:"derivePort"`
	Scheme        string `yaml:"scheme"`
	RedirectCode  int64  `yaml:"redirectCode"`
	PrefixRewrite string `yaml:"prefixRewrite"`
}

// HTTPDirectResponse is Istio's HTTPDirectResponse.
type HTTPDirectResponse struct {
	Status int64     `yaml:"status"`
	Body   *HTTPBody `yaml:"body"`
}

// HTTPBody is the body of a direct response: a string or base64 bytes.
type HTTPBody struct {
	String *string `yaml:"string"`
	Bytes  *string `yaml:"bytes"`
}

// Delegate names the VirtualService an http rule delegates to.
type Delegate struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

// HTTPRewrite is Istio's HTTPRewrite.
type HTTPRewrite struct {
	URI             string        `yaml:"uri"`
	Authority       string        `yaml:"authority"`
	URIRegexRewrite *RegexRewrite `yaml:"uriRegexRewrite"`
}

// RegexRewrite is Istio's RegexRewrite.
type RegexRewrite struct {
	Match   string `yaml:"match"`
	Rewrite string `yaml:"rewrite"`
}

// HTTPFaultInjection is Istio's HTTPFaultInjection.
type HTTPFaultInjection struct {
	Delay *FaultDelay `yaml:"delay"`
	Abort *FaultAbort `yaml:"abort"`
}

// FaultDelay is Istio's HTTPFaultInjection.Delay.
type FaultDelay struct {
	FixedDelay       string   `yaml:"fixedDelay"`
	ExponentialDelay string   `yaml:"exponentialDelay"`
	Percentage       *Percent `yaml:"percentage"`
	Percent          *int64   `yaml:"percent"`
}

// FaultAbort is Istio's HTTPFaultInjection.Abort.
type FaultAbort struct {
	HTTPStatus *int64   `yaml:"httpStatus"`
	GRPCStatus *string  `yaml:"grpcStatus"`
	HTTP2Error *string  `yaml:"http2Error"`
	Percentage *Percent `yaml:"percentage"`
}

// Percent is Istio's Percent: a fraction in [0, 100].
type Percent struct {
	Value float64 `yaml:"value"`
}

// HTTPMirrorPolicy is one of a rule's mirrors.
type HTTPMirrorPolicy struct {
	Destination *Destination `yaml:"destination"`
	Percentage  *Percent     `yaml:"percentage"`
}

// CorsPolicy is Istio's CorsPolicy.
type CorsPolicy struct {
	AllowOrigin         []string       `yaml:"allowOrigin"`
	AllowOrigins        []*StringMatch `yaml:"allowOrigins"`
	AllowMethods        []string       `yaml:"allowMethods"`
	AllowHeaders        []string       `yaml:"allowHeaders"`
	ExposeHeaders       []string       `yaml:"exposeHeaders"`
	MaxAge              string         `yaml:"maxAge"`
	AllowCredentials    *bool          `yaml:"allowCredentials"`
	UnmatchedPreflights string         `yaml:"unmatchedPreflights"`
}

// Headers is Istio's Headers: edits of the request and the response.
type Headers struct {
	Request  *HeaderOperations `yaml:"request"`
	Response *HeaderOperations `yaml:"response"`
}

// HeaderOperations is Istio's Headers.HeaderOperations.
type HeaderOperations struct {
	Set    map[string]string `yaml:"set"`
	Add    map[string]string `yaml:"add"`
	Remove []string          `yaml:"remove"`
}
