package policy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// verificationKeyID is the key ID Sluice gives policy.bundle.public_key.
// OPA's verifier uses the configured key ID in place of the token's kid,
// so a bundle signed with any kid verifies against the one configured key.
const verificationKeyID = "sluice"

// verificationConfig reads policy.bundle.public_key (a PEM file path or
// inline PEM) and returns the configuration that makes OPA's bundle reader
// require and check .signatures.json. The JWT algorithm follows the key:
// RS256 for RSA (the default of `opa build --signing-alg`), ES256/384/512
// for ECDSA P-256/384/521, EdDSA for Ed25519. "" returns nil: bundles are
// not verified.
func verificationConfig(publicKey string) (*bundle.VerificationConfig, error) {
	if strings.TrimSpace(publicKey) == "" {
		return nil, nil
	}
	pemText := publicKey
	src := "policy.bundle.public_key"
	if !strings.Contains(publicKey, "-----BEGIN") {
		b, err := os.ReadFile(publicKey)
		if err != nil {
			return nil, fmt.Errorf("policy: %s: %w", src, err)
		}
		pemText, src = string(b), publicKey
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, fmt.Errorf("policy: %s: no PEM block found", src)
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("policy: %s: PEM block %q is not a public key or certificate", src, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", src, err)
	}
	var alg string
	switch k := key.(type) {
	case *rsa.PublicKey:
		alg = "RS256"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		case elliptic.P521():
			alg = "ES512"
		default:
			return nil, fmt.Errorf("policy: %s: unsupported ECDSA curve %s", src, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		alg = "EdDSA"
	default:
		return nil, fmt.Errorf("policy: %s: unsupported key type %T", src, key)
	}
	keys := map[string]*bundle.KeyConfig{
		verificationKeyID: {Key: pemText, Algorithm: alg},
	}
	return bundle.NewVerificationConfig(keys, verificationKeyID, "", nil), nil
}
