package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

// TestIssue: a CA written and read again issues certificates that name the
// identity, verify against it for server and client use, and end no later
// than the CA.
func TestIssue(t *testing.T) {
	first, err := NewAuthority("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadAuthority(first.CertPEM, first.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuthority(first.CertPEM, []byte("no key")); err == nil {
		t.Error("LoadAuthority took a key that is not PEM")
	}
	c, err := ca.Issue(ServiceIdentity("token"), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(c.Cert, c.Key); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(c.Cert)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != IdentityPrefix+"token" {
		t.Errorf("URIs %v, want %stoken", cert.URIs, IdentityPrefix)
	}
	if cert.NotAfter.After(ca.cert.NotAfter) {
		t.Errorf("certificate ends %v, after its CA (%v)", cert.NotAfter, ca.cert.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(first.CertPEM)
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "token", KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Errorf("usage %v: %v", u, err)
		}
	}
	for _, id := range ComposeIdentities() {
		c, err := ca.Issue(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(c.Cert)
		cert, _ := x509.ParseCertificate(block.Bytes)
		if (len(cert.URIs) == 1) != id.Service {
			t.Errorf("%s: URIs %v, service %v", id.Name, cert.URIs, id.Service)
		}
	}
	if _, err := ca.Issue(Identity{}, time.Hour); err == nil {
		t.Error("Issue took an identity without a name")
	}
}
