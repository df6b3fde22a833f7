package mtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Authority is a CA that issues the services' certificates: the one way
// Landscape makes certificates (`landscape certs` and the tests).
type Authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	// CertPEM and KeyPEM are the CA certificate and its private key.
	CertPEM, KeyPEM []byte
}

// Identity is what one certificate names.
type Identity struct {
	// Name is the common name; with Service, also the URI SAN
	// spiffe://landscape/<Name> that the services check.
	Name string
	// Service: the certificate carries the URI SAN (a Landscape service,
	// not e.g. the NATS server).
	Service  bool
	DNSNames []string
	IPs      []net.IP
}

// ServiceIdentity is a Landscape service's identity: URI SAN
// spiffe://landscape/<name>, DNS name <name> (the address its peers dial)
// plus dns, and 127.0.0.1 for probes in its own container.
func ServiceIdentity(name string, dns ...string) Identity {
	return Identity{Name: name, Service: true, DNSNames: append([]string{name}, dns...), IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
}

// ComposeIdentities are the certificates `landscape certs` writes for
// docker compose: each service's identity (the token service accepts only
// registry, GetWebhookSecrets only formation) with the name its peers
// dial, and the NATS server's (DNS nats, the host of tls://nats:4222).
func ComposeIdentities() []Identity {
	ids := []Identity{}
	for _, s := range []string{"registry", "token", "formation", "gateway"} {
		ids = append(ids, ServiceIdentity(s))
	}
	return append(ids, Identity{Name: "nats", DNSNames: []string{"nats", "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

// Issued is a certificate and its private key (PEM).
type Issued struct{ Cert, Key []byte }

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// NewAuthority makes a self-signed CA named name, valid from an hour ago
// for validity.
func NewAuthority(name string, validity time.Duration) (*Authority, error) {
	if validity <= 0 {
		return nil, errors.New("mtls: validity must be positive")
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Authority{cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM}, nil
}

// LoadAuthority reads a CA written by NewAuthority (its CertPEM and KeyPEM).
func LoadAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("mtls: CA certificate or key is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("mtls: CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("mtls: CA key: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("mtls: not a CA certificate and signing key")
	}
	return &Authority{cert: cert, key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Issue signs a certificate for id, usable as server and client, valid
// from an hour ago for validity (capped at the CA's end).
func (a *Authority) Issue(id Identity, validity time.Duration) (Issued, error) {
	if id.Name == "" || validity <= 0 {
		return Issued{}, errors.New("mtls: an identity needs a name and a positive validity")
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return Issued{}, err
	}
	sn, err := serial()
	if err != nil {
		return Issued{}, err
	}
	now := time.Now()
	end := now.Add(validity)
	if end.After(a.cert.NotAfter) {
		end = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: id.Name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     end,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     id.DNSNames,
		IPAddresses:  id.IPs,
	}
	if id.Service {
		u, err := url.Parse(IdentityPrefix + id.Name)
		if err != nil {
			return Issued{}, err
		}
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: keyPEM}, nil
}
