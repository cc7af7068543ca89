package e2e

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

const checkoutOnly = `package sluice.egress

default allow := false

allow if input.source.identity == "spiffe://test/ns/shop/sa/checkout"

reasons contains msg if {
	not allow
	msg := sprintf("%s (%s) may not call %s", [input.source.identity, input.source.identity_source, input.destination.host])
}
`

// An mTLS client certificate with a SPIFFE ID on the proxy listener is
// the caller's identity: it reaches policy and the record.
func TestIdentityMTLS(t *testing.T) {
	up := startUpstream(t)
	ca := newCA(t, "mesh-ca")
	dir := t.TempDir()
	caPath := ca.write(t, dir, "ca")
	srvCert, srvKey := writePair(t, dir, "proxy", ca.issue("sluice", false, "127.0.0.1", "localhost"))
	okCert, okKey := writePair(t, dir, "checkout", ca.issue("checkout", true, "spiffe://test/ns/shop/sa/checkout"))
	badCert, badKey := writePair(t, dir, "other", ca.issue("other", true, "spiffe://test/ns/shop/sa/other"))
	g := StartGateway(t, Options{
		Config: fmt.Sprintf("identity: {proxy_tls: {cert: %s, key: %s, client_ca: %s}}\npolicy: {paths: [policy]}\n", srvCert, srvKey, caPath),
		Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port),
			"policy/egress.rego": checkoutOnly},
	})
	proxy := "https://" + g.Proxy
	status, body, serr, _ := curl(t, "--proxy", proxy, "--proxy-cacert", caPath, "--proxy-cert", okCert, "--proxy-key", okKey, "http://api.test.example/pay")
	if status != 200 {
		t.Fatalf("checkout: %d %s %s", status, body, serr)
	}
	status, body, _, _ = curl(t, "--proxy", proxy, "--proxy-cacert", caPath, "--proxy-cert", badCert, "--proxy-key", badKey, "http://api.test.example/pay", "-D", "-")
	if status != 403 || !strings.Contains(body, "policy_denied") || !strings.Contains(body, "spiffe://test/ns/shop/sa/other (mtls) may not call") {
		t.Errorf("other: %d %s", status, body)
	}
	status, _, _, _ = curl(t, "--proxy", proxy, "--proxy-cacert", caPath, "http://api.test.example/pay")
	if status != 403 {
		t.Errorf("no client certificate: %d", status)
	}
	r := waitRecord(t, g, url.Values{"decision": {"allow"}}, "the checkout call", func(r record) bool {
		return r.str("source_identity") == "spiffe://test/ns/shop/sa/checkout"
	})
	if r.str("identity_source") != "mtls" || r.str("source_workload") != "checkout" {
		t.Errorf("record %v", r)
	}
	waitRecord(t, g, url.Values{"decision": {"deny"}}, "the denied call with reasons", func(r record) bool {
		rules, _ := r["policy_rules"].([]any)
		return r.str("reason") == "policy_denied" && r.str("source_identity") == "spiffe://test/ns/shop/sa/other" && len(rules) == 1
	})
}

// X-Forwarded-Client-Cert is believed only from identity.trust_xfcc_from;
// from anyone else it is ignored (and never forwarded upstream).
func TestIdentityXFCC(t *testing.T) {
	up := startUpstream(t)
	xfcc := `By=spiffe://test/ns/egress/sa/sluice;Hash=abc;Subject="";URI=spiffe://test/ns/shop/sa/checkout`
	for _, tc := range []struct {
		trust  string
		status int
	}{{"[10.0.0.0/8]", 403}, {"[127.0.0.1/32]", 200}} {
		g := StartGateway(t, Options{
			Config: "identity: {trust_xfcc_from: " + tc.trust + "}\npolicy: {paths: [policy]}\n",
			Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port),
				"policy/egress.rego": checkoutOnly},
		})
		status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/", "-H", "X-Forwarded-Client-Cert: "+xfcc)
		if status != tc.status {
			t.Errorf("trust %s: status %d, want %d: %s", tc.trust, status, tc.status, body)
		}
		if status == 200 && strings.Contains(body, "X-Forwarded-Client-Cert") {
			t.Errorf("XFCC was forwarded upstream: %s", body)
		}
	}
}

// identity.sources names workloads by CIDR; a Basic proxy user is a weak
// identity used only when nothing better exists.
func TestIdentitySourcesAndProxyAuth(t *testing.T) {
	up := startUpstream(t)
	policy := `package sluice.egress

default allow := false

allow if input.source.workload == "batch"

allow if {
	input.source.identity_source == "proxy_auth"
	input.source.identity == "ci-runner"
}
`
	g := StartGateway(t, Options{
		Config: "policy: {paths: [policy]}\n",
		Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port),
			"policy/egress.rego": policy},
	})
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-runner:x"))
	status, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://api.test.example/", "-H", "Proxy-Authorization: "+auth)
	if status != 200 || strings.Contains(body, "Proxy-Authorization") {
		t.Errorf("proxy auth user: %d %s", status, body)
	}
	waitRecord(t, g, url.Values{"decision": {"allow"}}, "proxy_auth identity", func(r record) bool {
		return r.str("identity_source") == "proxy_auth" && r.str("source_identity") == "ci-runner"
	})
	g2 := StartGateway(t, Options{
		Config: "policy: {paths: [policy]}\nidentity: {sources: [{cidr: 127.0.0.0/8, workload: batch}]}\n",
		Files: map[string]string{"registry/api.yaml": staticSE("api", "api.test.example", 80, "HTTP", up.Port),
			"policy/egress.rego": policy},
	})
	status, _, _, _ = curl(t, "-x", "http://"+g2.Proxy, "http://api.test.example/", "-H", "Proxy-Authorization: "+auth)
	if status != 200 {
		t.Errorf("cidr workload: %d", status)
	}
	waitRecord(t, g2, url.Values{"decision": {"allow"}}, "cidr identity wins over proxy auth", func(r record) bool {
		return r.str("identity_source") == "cidr" && r.str("source_workload") == "batch"
	})
}

// A CONNECT tunnel through the mTLS proxy listener (curl --proxy https://)
// carries the caller's inner TLS inside the proxy's TLS: the tunnel must
// copy the decrypted stream, not the raw TCP bytes beneath it.
func TestConnectOverTLSProxyListener(t *testing.T) {
	ca := newCA(t, "mesh-ca")
	up := startTLSUpstream(t, ca.issue("secure", false, "secure.test.example"), nil)
	dir := t.TempDir()
	caPath := ca.write(t, dir, "ca")
	srvCert, srvKey := writePair(t, dir, "proxy", ca.issue("sluice", false, "127.0.0.1", "localhost"))
	okCert, okKey := writePair(t, dir, "checkout", ca.issue("checkout", true, "spiffe://test/ns/shop/sa/checkout"))
	g := StartGateway(t, Options{
		Config: fmt.Sprintf("identity: {proxy_tls: {cert: %s, key: %s, client_ca: %s}}\n", srvCert, srvKey, caPath),
		Files:  map[string]string{"registry/secure.yaml": staticSE("secure", "secure.test.example", 443, "HTTPS", up.Port)},
	})
	status, body, serr, _ := curl(t, "--proxy", "https://"+g.Proxy, "--proxy-cacert", caPath, "--proxy-cert", okCert, "--proxy-key", okKey,
		"--cacert", caPath, "https://secure.test.example/hello")
	if status != 200 || !strings.Contains(body, `"tls":true`) {
		t.Fatalf("CONNECT over the TLS proxy listener: status %d %s %s", status, body, serr)
	}
}
