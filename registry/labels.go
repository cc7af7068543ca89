package registry

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Istio's pkg/config/labels: Kubernetes label keys and values.
const (
	dns1123LabelFmt  = "[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
	qualifiedNameFmt = "(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
	dnsNamePrefixFmt = dns1123LabelFmt + `(?:\.` + dns1123LabelFmt + `)*/`
)

// Compiled once; regexps are safe for concurrent use and never change.
var (
	tagRegexp        = regexp.MustCompile("^(" + dnsNamePrefixFmt + ")?(" + qualifiedNameFmt + ")$")
	labelValueRegexp = regexp.MustCompile("^(" + qualifiedNameFmt + ")?$")
)

// validateLabels is Istio's labels.Instance.Validate, key by key in sorted
// order so that findings are stable.
func (c *checker) labels(f string, ls map[string]string) {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateTagKey(k); err != nil {
			c.errf(f, "%v", err)
		}
		if !labelValueRegexp.MatchString(ls[k]) {
			c.errf(f, "invalid tag value: %q", ls[k])
		}
	}
}

// validateTagKey is Istio's validateTagKey.
func validateTagKey(k string) error {
	m := tagRegexp.FindStringSubmatch(k)
	if m == nil {
		return fmt.Errorf("invalid tag key: %q", k)
	}
	if len(m[1]) > 0 && len(m[1])-1 > 253 {
		return fmt.Errorf("invalid tag key: %q (DNS prefix is too long)", k)
	}
	if len(m[2]) > 63 {
		return fmt.Errorf("invalid tag key: %q (name is too long)", k)
	}
	return nil
}

// workloadSelector is Istio's validateWorkloadSelector.
func (c *checker) workloadSelector(f string, s *DRWorkloadSelector) {
	if s == nil {
		return
	}
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s.MatchLabels[k]
		if k == "" {
			c.errf(f+".matchLabels", "empty key is not supported in selector: %q", k+"="+v)
		}
		if strings.Contains(k, "*") || strings.Contains(v, "*") {
			c.errf(f+".matchLabels", "wildcard is not supported in selector: %q", k+"="+v)
		}
	}
	if len(s.MatchLabels) == 0 {
		c.warnf(f, "workload selector specified without labels")
	}
}
