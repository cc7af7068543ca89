package policy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/sluicehq/sluice/internal/config"
	"go.opentelemetry.io/otel/attribute"
)

// keyPair returns a private and a public key in PEM: ECDSA P-256 (fast to
// generate), or RSA 2048 when rsaKey is set.
func keyPair(t *testing.T, rsaKey bool) (private, public string) {
	t.Helper()
	var priv, pub any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
}

// bundleSpec describes a bundle tarball to build.
type bundleSpec struct {
	revision string
	rego     string
	data     map[string]any
	signKey  string // private key PEM; "" for unsigned
	alg      string // ES256 unless set
	tamper   bool   // change the policy after signing
}

func (s bundleSpec) tarball(t *testing.T) []byte {
	t.Helper()
	mod := func(src string) bundle.ModuleFile {
		return bundle.ModuleFile{URL: "/egress.rego", Path: "/egress.rego", Raw: []byte(src),
			Parsed: ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})}
	}
	data := s.data
	if data == nil {
		data = map[string]any{}
	}
	b := bundle.Bundle{Manifest: bundle.Manifest{Revision: s.revision}, Data: data, Modules: []bundle.ModuleFile{mod(s.rego)}}
	b.Manifest.Init()
	if s.signKey != "" {
		alg := s.alg
		if alg == "" {
			alg = "ES256"
		}
		if err := b.GenerateSignature(bundle.NewSigningConfig(s.signKey, alg, ""), "ops", false); err != nil {
			t.Fatal(err)
		}
	}
	if s.tamper {
		b.Modules[0] = mod(s.rego + "\nallow := true if input.request.method == \"DELETE\"\n")
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundleServer is an OPA bundle server on loopback: it answers 304 when
// If-None-Match matches the current ETag.
type bundleServer struct {
	*httptest.Server
	mu          sync.Mutex
	body        []byte
	etag        string
	status      int // when set, answered instead of the bundle
	requests    int
	ifNoneMatch []string
}

func newBundleServer(t *testing.T) *bundleServer {
	s := &bundleServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests++
		s.ifNoneMatch = append(s.ifNoneMatch, r.Header.Get("If-None-Match"))
		switch {
		case s.status != 0:
			http.Error(w, "bundle service unavailable", s.status)
		case s.etag != "" && r.Header.Get("If-None-Match") == s.etag:
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", s.etag)
			w.Header().Set("Content-Type", "application/gzip")
			_, _ = w.Write(s.body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *bundleServer) serve(body []byte, etag string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.status = body, etag, status
}

func (s *bundleServer) lastIfNoneMatch() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ifNoneMatch[len(s.ifNoneMatch)-1]
}

func bundleOptions(url, publicKey string, m *metricsReader) Options {
	o := Options{
		Config: config.Policy{Bundle: config.Bundle{URL: url + "/bundles/egress.tar.gz",
			PollingInterval: config.Duration(time.Hour), PublicKey: publicKey}},
		StartupFetchTimeout: 5 * time.Second,
	}
	if m != nil {
		o.MeterProvider = m.mp
	}
	return o
}

func TestBundleFetchWithETag(t *testing.T) {
	srv := newBundleServer(t)
	srv.serve(bundleSpec{revision: "r1", rego: policyGetOnly}.tarball(t), `"e1"`, 0)
	e := newEngine(t, bundleOptions(srv.URL, "", nil))
	post := httpCall(anonymous, inventory, "POST", "/")

	s := e.Status()
	if s.State != StateActive || s.Remote.Revision != "r1" || s.Remote.ETag != `"e1"` || s.Remote.Verified {
		t.Fatalf("status after startup = %+v %+v", s, s.Remote)
	}
	if d := e.Decide(context.Background(), post); d.Allow {
		t.Fatalf("bundle r1 should deny POST: %+v", d)
	}
	g0 := s.Generation

	// Unchanged: the server answers 304 and nothing is reloaded.
	if err := e.poll(context.Background(), "bundle"); err != nil {
		t.Fatal(err)
	}
	if got := srv.lastIfNoneMatch(); got != `"e1"` {
		t.Errorf("If-None-Match = %q, want the active ETag", got)
	}
	if s := e.Status(); s.Generation != g0 || s.Remote.LastCheck.IsZero() || s.Remote.LastError != "" {
		t.Errorf("status after 304 = %+v %+v", s, s.Remote)
	}

	// A new revision is swapped in.
	srv.serve(bundleSpec{revision: "r2", rego: policyPostToo}.tarball(t), `"e2"`, 0)
	if err := e.poll(context.Background(), "bundle"); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(context.Background(), post); !d.Allow {
		t.Errorf("bundle r2 should allow POST: %+v", d)
	}
	if s := e.Status(); s.Generation != g0+1 || s.Remote.Revision != "r2" || s.Remote.ETag != `"e2"` || s.LastReload.Trigger != "bundle" {
		t.Errorf("status after r2 = %+v %+v", s, s.Remote)
	}

	// Server errors keep r2.
	srv.serve(nil, "", http.StatusBadGateway)
	err := e.poll(context.Background(), "bundle")
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: bundle service unavailable") {
		t.Errorf("poll against a failing server = %v", err)
	}
	if d := e.Decide(context.Background(), post); !d.Allow {
		t.Errorf("after a failed poll: %+v, want r2 still in force", d)
	}
	if s := e.Status(); s.Remote.Revision != "r2" || !strings.Contains(s.Remote.LastError, "502") {
		t.Errorf("status after failed poll = %+v", s.Remote)
	}
}

func TestBundleSignatures(t *testing.T) {
	for _, rsaKey := range []bool{false, true} {
		name := map[bool]string{false: "ES256", true: "RS256"}[rsaKey]
		t.Run(name, func(t *testing.T) {
			priv, pub := keyPair(t, rsaKey)
			otherPriv, _ := keyPair(t, rsaKey)
			m := newMetricsReader()
			srv := newBundleServer(t)
			srv.serve(bundleSpec{revision: "signed-1", rego: policyGetOnly, signKey: priv, alg: name}.tarball(t), `"s1"`, 0)
			// The key as a file.
			keyFile := filepath.Join(t.TempDir(), "bundle.pem")
			if err := os.WriteFile(keyFile, []byte(pub), 0o600); err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, bundleOptions(srv.URL, keyFile, m))
			if s := e.Status(); s.State != StateActive || s.Remote.Revision != "signed-1" || !s.Remote.Verified {
				t.Fatalf("signed bundle not activated: %+v %+v", s, s.Remote)
			}
			g0 := e.Status().Generation

			for _, bad := range []struct {
				name string
				spec bundleSpec
				want string
			}{
				{"wrong key", bundleSpec{revision: "evil", rego: policyPostToo, signKey: otherPriv, alg: name}, "failed to verify JWT signature"},
				{"unsigned", bundleSpec{revision: "evil", rego: policyPostToo}, "bundle missing .signatures.json file"},
				{"tampered", bundleSpec{revision: "evil", rego: policyPostToo, signKey: priv, alg: name, tamper: true}, "digest mismatch"},
			} {
				srv.serve(bad.spec.tarball(t), `"`+bad.name+`"`, 0)
				err := e.poll(context.Background(), "bundle")
				if err == nil || !strings.Contains(err.Error(), bad.want) {
					t.Errorf("%s: poll = %v, want %q", bad.name, err, bad.want)
				}
				if d := e.Decide(context.Background(), httpCall(anonymous, inventory, "POST", "/")); d.Allow {
					t.Errorf("%s: the rejected bundle is in force", bad.name)
				}
				if s := e.Status(); s.Remote.Revision != "signed-1" || s.Generation != g0 {
					t.Errorf("%s: status = %+v %+v", bad.name, s, s.Remote)
				}
			}
			if n := m.counter(t, "sluice_config_reloads_total", attribute.String("kind", "policy"), attribute.String("result", "failure")); n != 3 {
				t.Errorf("failures counted = %d, want 3", n)
			}
		})
	}
}

func TestBundleKeyErrors(t *testing.T) {
	_, pub := keyPair(t, false)
	for name, key := range map[string]string{
		"missing file": "/nonexistent/key.pem",
		"not PEM":      "-----BEGIN nonsense",
		"private key":  strings.ReplaceAll(pub, "PUBLIC KEY", "EC PRIVATE KEY"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(context.Background(), Options{Logger: discardLogger(), Config: config.Policy{
				Bundle: config.Bundle{URL: "http://127.0.0.1:1/b.tar.gz", PublicKey: key}}})
			if err == nil || !strings.Contains(err.Error(), "public_key") && !strings.Contains(err.Error(), "key.pem") {
				t.Errorf("New = %v, want a key error", err)
			}
		})
	}
	// Inline PEM works.
	if _, err := verificationConfig(pub); err != nil {
		t.Errorf("inline PEM: %v", err)
	}
}

func TestBundleUnavailableAtStartupDeniesUntilItArrives(t *testing.T) {
	srv := newBundleServer(t)
	srv.serve(nil, "", http.StatusServiceUnavailable)
	opts := bundleOptions(srv.URL, "", nil)
	opts.Config.Bundle.PollingInterval = config.Duration(50 * time.Millisecond)
	e := newEngine(t, opts)

	d := e.Decide(context.Background(), httpCall(checkout, inventory, "GET", "/"))
	if d.Allow || !errors.Is(d.Error, ErrNotLoaded) || d.Reasons[0] != "policy_error: waiting for the first policy bundle" {
		t.Fatalf("decision without a bundle = %+v, want a policy_error denial", d)
	}
	if s := e.Status(); s.State != StateWaitingForBundle || !strings.Contains(s.Remote.LastError, "503") {
		t.Errorf("status = %+v %+v", s, s.Remote)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv.serve(bundleSpec{revision: "late", rego: policyGetOnly}.tarball(t), `"l"`, 0)
	eventually(t, "the bundle to be activated", func() bool { return e.Status().State == StateActive })
	if d := e.Decide(ctx, httpCall(checkout, inventory, "GET", "/")); !d.Allow {
		t.Errorf("after the bundle arrived: %+v", d)
	}
}

func TestBrokenBundleAtStartupDenies(t *testing.T) {
	srv := newBundleServer(t)
	srv.serve(bundleSpec{revision: "bad", rego: "package sluice.egress\nallow if nope(input.x)\n"}.tarball(t), `"b"`, 0)
	e := newEngine(t, bundleOptions(srv.URL, "", nil))
	s := e.Status()
	if s.State != StateWaitingForBundle || s.LastReload.Result != "failure" || !strings.Contains(s.LastReload.Error, "/bundles/egress.tar.gz/egress.rego:2:10: rego_type_error: undefined function nope") {
		t.Errorf("status = %+v", s)
	}
	if d := e.Decide(context.Background(), httpCall(checkout, inventory, "GET", "/")); d.Allow {
		t.Errorf("decision = %+v, want a denial", d)
	}
}

func TestBundleWithLocalData(t *testing.T) {
	// Local files and the remote bundle make one policy: here the bundle's
	// rules read a blocklist kept next to the gateway.
	dir := policyDir(t, map[string]string{"data.yaml": "blocked: [/admin]\n"})
	srv := newBundleServer(t)
	srv.serve(bundleSpec{revision: "r", rego: "package sluice.egress\ndefault allow := false\nallow if not input.request.path in data.blocked\n"}.tarball(t), `"r"`, 0)
	opts := bundleOptions(srv.URL, "", nil)
	opts.Paths = []string{dir}
	e := newEngine(t, opts)
	if d := e.Decide(context.Background(), httpCall(checkout, inventory, "GET", "/admin")); d.Allow {
		t.Errorf("/admin allowed: %+v", d)
	}
	if d := e.Decide(context.Background(), httpCall(checkout, inventory, "GET", "/ok")); !d.Allow {
		t.Errorf("/ok denied: %+v", d)
	}
}

func TestLocalBundles(t *testing.T) {
	// A bundle directory (with a .manifest) and a bundle tarball.
	dir := policyDir(t, map[string]string{
		"b/.manifest":               `{"revision": "dir-7", "roots": ["sluice"]}`,
		"b/egress.rego":             policyGetOnly,
		"b/sluice/limits/data.json": `{"max": 3}`,
	})
	tarball := filepath.Join(t.TempDir(), "extra.tar.gz")
	extra := bundleSpec{revision: "tar-9", rego: "package lib\nx := 1\n"}
	if err := os.WriteFile(tarball, extra.tarball(t), 0o644); err != nil {
		t.Fatal(err)
	}
	// The tarball's module must not clash with the directory's egress.rego.
	e := newEngine(t, Options{Paths: []string{filepath.Join(dir, "b"), tarball}})
	s := e.Status()
	if len(s.Bundles) != 2 || s.Bundles[0].Revision != "dir-7" || s.Bundles[1].Revision != "tar-9" || s.Modules != 2 {
		t.Errorf("status = %+v", s)
	}
	if d := e.Decide(context.Background(), httpCall(checkout, inventory, "GET", "/")); !d.Allow {
		t.Errorf("decision = %+v", d)
	}
}
