package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSOriginationResolution(t *testing.T) {
	se := namedSE("api", "  hosts: [api.example.com]\n  resolution: DNS\n  subjectAltNames: [spiffe://partner/api]\n  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}, {number: 8080, name: alt, protocol: HTTP}, {number: 443, name: https, protocol: HTTPS}]\n")
	dr := drDoc(`  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, sni: top.example.com}
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE}
    - port: {number: 8080}
      connectionPool: {tcp: {maxConnections: 10}}
`)
	s := mustBuild(t, se, dr)
	tests := []struct {
		port     int
		mode     string
		sni      string
		fromRule string
	}{
		{80, "SIMPLE", "", "ns/dr"},                 // port-level entry
		{8080, "", "", "ns/dr"},                     // port-level entry without tls replaces the top level: no TLS
		{443, "SIMPLE", "top.example.com", "ns/dr"}, // top level
	}
	for _, tc := range tests {
		r, _ := s.Lookup(mustHost(t, "api.example.com"), tc.port)
		mode, sni := "", ""
		if r.TLS != nil {
			mode, sni = r.TLS.Mode, r.TLS.SNI
		}
		if mode != tc.mode || sni != tc.sni || r.DestinationRule != tc.fromRule {
			t.Errorf("port %d: mode %q sni %q rule %q; want %q %q %q", tc.port, mode, sni, r.DestinationRule, tc.mode, tc.sni, tc.fromRule)
		}
	}
}

func TestDestinationRuleSelection(t *testing.T) {
	s := mustBuild(t,
		strings.Replace(namedSE("a", "  hosts: [a.example.com, b.example.com]\n"+port443), "namespace: ns", "namespace: shop", 1),
		strings.Replace(drDoc("  host: '*.example.com'\n  trafficPolicy: {tls: {mode: SIMPLE, sni: wild}}\n"), "name: dr", "name: wild", 1),
		strings.Replace(drDoc("  host: b.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, sni: other-ns}}\n"), "name: dr", "name: b1", 1),
		strings.Replace(strings.Replace(drDoc("  host: b.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, sni: same-ns}}\n"), "name: dr", "name: b2", 1), "namespace: ns", "namespace: shop", 1),
	)
	ra, _ := s.Lookup(mustHost(t, "a.example.com"), 443)
	rb, _ := s.Lookup(mustHost(t, "b.example.com"), 443)
	if ra.TLS == nil || ra.TLS.SNI != "wild" {
		t.Errorf("a: want the wildcard rule, got %+v", ra.TLS)
	}
	if rb.TLS == nil || rb.TLS.SNI != "same-ns" || rb.DestinationRule != "shop/b2" {
		t.Errorf("b: want the exact rule in the entry's namespace, got %+v from %s", rb.TLS, rb.DestinationRule)
	}
	var warned bool
	for _, w := range s.Warnings {
		warned = warned || strings.Contains(w.Msg, "2 DestinationRules apply to host b.example.com; using DestinationRule shop/b2")
	}
	if !warned {
		t.Errorf("no warning about competing rules: %v", s.Warnings)
	}
}

func TestUnusedDestinationRuleWarns(t *testing.T) {
	_, warns := findings(t, seDoc("  hosts: [a.example.com]\n"+port443), drDoc("  host: istio-egressgateway.istio-system.svc.cluster.local\n  subsets: [{name: cnn}]\n"))
	if len(warns) != 1 || !strings.Contains(warns[0], "no ServiceEntry declares host istio-egressgateway.istio-system.svc.cluster.local") {
		t.Fatalf("warnings %q", warns)
	}
}

// MUTUAL origination loads the client certificate, the CA and the files
// named relative to the YAML file; credentialName reads a mounted Secret.
func TestMutualLoadsCertificates(t *testing.T) {
	dir := t.TempDir()
	writeTestCert(t, filepath.Join(dir, "certs"), "client")
	writeTestCert(t, filepath.Join(dir, "creds", "partner"), "tls")
	WriteTestFile(t, filepath.Join(dir, "reg", "x.yaml"), namedSE("api", "  hosts: [api.example.com, b.example.com]\n  resolution: DNS\n"+port443)+"---\n"+
		drDoc("  host: api.example.com\n  trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: ../certs/client.crt, privateKey: ../certs/client.key, caCertificates: ../certs/client.crt}}\n")+"---\n"+
		strings.Replace(drDoc("  host: b.example.com\n  trafficPolicy: {tls: {mode: MUTUAL, credentialName: partner}}\n"), "name: dr", "name: b", 1))
	s, ds, err := LoadPaths([]string{filepath.Join(dir, "reg")}, BuildOptions{CredentialsDir: filepath.Join(dir, "creds")})
	if err != nil {
		t.Fatal(err, ds)
	}
	for _, h := range []string{"api.example.com", "b.example.com"} {
		r, _ := s.Lookup(mustHost(t, h), 443)
		if r.TLS == nil || r.TLS.ClientCert == nil || r.TLS.Key == "" || (h == "api.example.com") != (r.TLS.RootCAs != nil) {
			t.Errorf("%s: certificates not loaded: %+v", h, r.TLS)
		}
	}
}

// Reload through the real file watcher: valid → invalid (old set still
// answers) → valid (new set answers).
func TestWatchReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "se.yaml")
	WriteTestFile(t, file, seDoc("  hosts: [one.example.com]\n"+port443))
	r := New(Options{Paths: []string{dir}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	go r.Watch(ctx, 20*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // let the watcher start
	declared := func(h string) bool { _, res := r.Snapshot().Lookup(mustHost(t, h), 443); return res == Declared }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for i := 0; i < 200; i++ {
			if cond() {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s (status %+v)", what, r.Status())
	}
	WriteTestFile(t, file, seDoc("  hosts: ['*']\n"+port443))
	waitFor("rejection", func() bool { return r.Status().ReloadCount >= 2 && !r.Status().OK })
	if !declared("one.example.com") || r.Snapshot().Generation != 1 {
		t.Fatal("the last good set is gone")
	}
	if e := r.Status().Errors; len(e) != 1 || e[0].Msg != "invalid host *" {
		t.Fatalf("status errors %v", e)
	}
	WriteTestFile(t, file, seDoc("  hosts: [two.example.com]\n"+port443))
	waitFor("the new set", func() bool { return declared("two.example.com") })
	if declared("one.example.com") {
		t.Fatal("old host still declared")
	}
}

// WriteTestFile writes content, creating directories.
func WriteTestFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTestCert writes a self-signed <name>.crt/.key pair into dir.
func writeTestCert(t *testing.T, dir, name string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	WriteTestFile(t, filepath.Join(dir, name+".crt"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	WriteTestFile(t, filepath.Join(dir, name+".key"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
}
