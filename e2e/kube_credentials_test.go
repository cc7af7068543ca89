package e2e

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"
)

// tlsSecret is a kubernetes.io/tls Secret in namespace sluice holding a
// client certificate and the CA that verifies the upstream (Istio's TLS
// format: tls.crt, tls.key, ca.crt).
func tlsSecret(t *testing.T, name string, c tls.Certificate, ca *testCA) string {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	indent := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ") }
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: sluice}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    %s
  tls.key: |
    %s
  ca.crt: |
    %s
`, name, indent(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		indent(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})), indent(ca.PEM))
}

// A DestinationRule's credentialName is read from a Secret of the
// gateway's namespace; when the Secret is rotated, the next calls present
// the new client certificate, without a restart.
func TestKubernetesCredentialRotation(t *testing.T) {
	k := startKubeEnv(t, "team")
	serverCA, clientCA := newCA(t, "upstream-ca"), newCA(t, "client-ca")
	up := startTLSUpstream(t, serverCA.issue("partner", false, "partner.team.example"), clientCA)
	k.MustKubectl(t, tlsSecret(t, "partner-client", clientCA.issue("client-v1", true), serverCA), "apply", "-f", "-")
	k.MustKubectl(t, kubeSE("partner", "partner.team.example", up.Port)+`---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: partner, namespace: team}
spec:
  host: partner.team.example
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: partner-client}
`, "apply", "-f", "-")
	g := k.gateway(t, nil)
	pid := g.cmd.Process.Pid
	clientCN := func() string {
		_, body, _, _ := curl(t, "-x", "http://"+g.Proxy, "http://partner.team.example/ledger")
		for _, cn := range []string{"client-v1", "client-v2"} {
			if strings.Contains(body, `"client_cn":"`+cn+`"`) {
				return cn
			}
		}
		return body
	}
	if cn := clientCN(); cn != "client-v1" {
		t.Fatalf("first certificate not presented: %s", cn)
	}
	k.MustKubectl(t, tlsSecret(t, "partner-client", clientCA.issue("client-v2", true), serverCA), "apply", "-f", "-")
	took := within(t, 5*time.Second, "the rotated certificate presented", func() bool { return clientCN() == "client-v2" })
	t.Logf("rotated certificate in use %s after kubectl apply returned", took.Round(time.Millisecond))
	if g.cmd.Process.Pid != pid || g.Exited(0) {
		t.Fatalf("the gateway restarted")
	}
	if !strings.Contains(g.Logs(), "credential loaded") {
		t.Errorf("the rotation was not logged")
	}
}
