package registry

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Host name rules, as Istio's webhook applies them (pkg/config/validation).

const dns1123LabelMaxLength = 63

// isDNS1123Label reports whether s is a DNS-1123 label. Like Istio's check
// it accepts upper case (names are compared case-insensitively anyway).
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > dns1123LabelMaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// isWildcardDNS1123Label accepts "*", "*xyz", "*-xyz" or a DNS-1123 label.
func isWildcardDNS1123Label(s string) bool {
	if len(s) == 0 {
		return false
	}
	if s[0] == '*' {
		if len(s) == 1 {
			return true
		}
		s = s[1:]
		if s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
	}
	return isDNS1123Label(s)
}

func checkDNS1123Preconditions(name string) error {
	if len(name) > 255 {
		return fmt.Errorf("domain name %q too long (max 255)", name)
	}
	if len(name) == 0 {
		return fmt.Errorf("empty domain name not allowed")
	}
	return nil
}

func validateDNS1123Labels(domain string) error {
	parts := strings.Split(domain, ".")
	tld := parts[len(parts)-1]
	if _, err := strconv.Atoi(tld); err == nil {
		return fmt.Errorf("domain name %q invalid (top level domain %q cannot be all-numeric)", domain, tld)
	}
	for i, label := range parts {
		if i == len(parts)-1 && label == "" {
			return nil // trailing dot: "istio.io."
		}
		if !isDNS1123Label(label) {
			return fmt.Errorf("domain name %q invalid (label %q invalid)", domain, label)
		}
	}
	return nil
}

// validateWildcardDomain is Istio's ValidateWildcardDomain: a name whose
// first label may be a wildcard.
func validateWildcardDomain(domain string) error {
	if err := checkDNS1123Preconditions(domain); err != nil {
		return err
	}
	first, rest, hasRest := strings.Cut(domain, ".")
	if !isWildcardDNS1123Label(first) {
		return fmt.Errorf("domain name %q invalid (label %q invalid)", domain, first)
	}
	if hasRest {
		return validateDNS1123Labels(rest)
	}
	return nil
}

// validateFQDN is Istio's ValidateFQDN: every label a DNS-1123 label.
func validateFQDN(fqdn string) error {
	if err := checkDNS1123Preconditions(fqdn); err != nil {
		return err
	}
	return validateDNS1123Labels(fqdn)
}

// NormalizeHost lower-cases h and strips one trailing dot. It returns h
// itself (no allocation) when it is already normal.
func NormalizeHost(h string) string {
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// IsWildcard reports whether a declared host starts with "*".
func IsWildcard(h string) bool { return strings.HasPrefix(h, "*") }

// validateIPAddress is Istio's agent.ValidateIPAddress.
func validateIPAddress(addr string) error {
	if _, err := netip.ParseAddr(addr); err != nil {
		return fmt.Errorf("%v is not a valid IP", addr)
	}
	return nil
}
