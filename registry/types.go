package registry

// The Istio resources as they appear in YAML. networking.istio.io/v1,
// v1beta1 and v1alpha3 share one schema, so one set of types serves all
// three. Fields Sluice does not act on (load balancing, outlier detection,
// connection pools) are kept as raw values so that files written for Istio
// load unchanged, while misspelt keys are still reported.

// Metadata is the Kubernetes object metadata Sluice reads. Other keys
// (uid, resourceVersion, managedFields, …) from `kubectl get -o yaml` are
// accepted and ignored.
type Metadata struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	Rest        map[string]any    `yaml:",inline"`
}

// ServiceEntrySpec is networking.istio.io ServiceEntry.spec.
type ServiceEntrySpec struct {
	Hosts            []string          `yaml:"hosts"`
	Addresses        []string          `yaml:"addresses"`
	Ports            []*ServicePort    `yaml:"ports"`
	Location         string            `yaml:"location"`
	Resolution       string            `yaml:"resolution"`
	Endpoints        []*WorkloadEntry  `yaml:"endpoints"`
	WorkloadSelector *WorkloadSelector `yaml:"workloadSelector"`
	ExportTo         []string          `yaml:"exportTo"`
	SubjectAltNames  []string          `yaml:"subjectAltNames"`
}

// ServicePort is one port of a ServiceEntry.
type ServicePort struct {
	Number     int    `yaml:"number"`
	Protocol   string `yaml:"protocol"`
	Name       string `yaml:"name"`
	TargetPort int    `yaml:"targetPort"`
}

// WorkloadEntry is one endpoint of a ServiceEntry.
type WorkloadEntry struct {
	Address        string            `yaml:"address"`
	Ports          map[string]int    `yaml:"ports"`
	Labels         map[string]string `yaml:"labels"`
	Network        string            `yaml:"network"`
	Locality       string            `yaml:"locality"`
	Weight         int               `yaml:"weight"`
	ServiceAccount string            `yaml:"serviceAccount"`
}

// WorkloadSelector selects workloads by labels (ServiceEntry form,
// networking.istio.io WorkloadSelector: labels only; matchLabels is the
// DestinationRule form, which the ServiceEntry CRD does not take).
type WorkloadSelector struct {
	Labels map[string]string `yaml:"labels"`
}

// DestinationRuleSpec is networking.istio.io DestinationRule.spec.
type DestinationRuleSpec struct {
	Host             string              `yaml:"host"`
	TrafficPolicy    *TrafficPolicy      `yaml:"trafficPolicy"`
	Subsets          []Subset            `yaml:"subsets"`
	ExportTo         []string            `yaml:"exportTo"`
	WorkloadSelector *DRWorkloadSelector `yaml:"workloadSelector"`
}

// DRWorkloadSelector is the DestinationRule form of a workload selector
// (istio.type.v1beta1.WorkloadSelector): matchLabels only.
type DRWorkloadSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// TrafficPolicy is a DestinationRule traffic policy. Every field of
// Istio's schema is typed, so a misspelt key anywhere is an error; the
// fields Sluice applies are listed in registry/README.md, the rest are
// warned about by name (unappliedTrafficPolicy).
type TrafficPolicy struct {
	LoadBalancer      *LoadBalancerSettings   `yaml:"loadBalancer"`
	ConnectionPool    *ConnectionPoolSettings `yaml:"connectionPool"`
	OutlierDetection  *OutlierDetection       `yaml:"outlierDetection"`
	TLS               *ClientTLSSettings      `yaml:"tls"`
	PortLevelSettings []PortTrafficPolicy     `yaml:"portLevelSettings"`
	Tunnel            *TunnelSettings         `yaml:"tunnel"`
	ProxyProtocol     *ProxyProtocol          `yaml:"proxyProtocol"`
	RetryBudget       *RetryBudget            `yaml:"retryBudget"`
}

// PortTrafficPolicy overrides the traffic policy for one port. It replaces
// the destination-level policy entirely for that port.
type PortTrafficPolicy struct {
	Port             *PortSelector           `yaml:"port"`
	LoadBalancer     *LoadBalancerSettings   `yaml:"loadBalancer"`
	ConnectionPool   *ConnectionPoolSettings `yaml:"connectionPool"`
	OutlierDetection *OutlierDetection       `yaml:"outlierDetection"`
	TLS              *ClientTLSSettings      `yaml:"tls"`
}

// PortSelector names a port by number.
type PortSelector struct {
	Number int `yaml:"number"`
}

// Subset is a named group of endpoints, selected by their labels, with
// an optional traffic policy of its own.
type Subset struct {
	Name          string            `yaml:"name"`
	Labels        map[string]string `yaml:"labels"`
	TrafficPolicy *TrafficPolicy    `yaml:"trafficPolicy"`
}

// ClientTLSSettings is DestinationRule TLS origination.
type ClientTLSSettings struct {
	Mode               string   `yaml:"mode"`
	ClientCertificate  string   `yaml:"clientCertificate"`
	PrivateKey         string   `yaml:"privateKey"`
	CACertificates     string   `yaml:"caCertificates"`
	CACrl              string   `yaml:"caCrl"`
	CredentialName     string   `yaml:"credentialName"`
	SubjectAltNames    []string `yaml:"subjectAltNames"`
	SNI                string   `yaml:"sni"`
	InsecureSkipVerify *bool    `yaml:"insecureSkipVerify"`
}
