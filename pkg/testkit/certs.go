package testkit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/mtls"
)

// CA is a certificate authority for tests of mutual TLS between
// services: an mtls.Authority, the one that `landscape certs` uses.
type CA struct {
	*mtls.Authority
}

// NewCA makes a CA valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	a, err := mtls.NewAuthority(name, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Authority: a}
}

// ServiceCert is a service's certificate and key (PEM).
type ServiceCert = mtls.Issued

// Issue signs a certificate for service (mtls.ServiceIdentity: identity
// spiffe://landscape/<service>, DNS name service, IP 127.0.0.1), usable
// as server and client.
func (ca *CA) Issue(t testing.TB, service string) ServiceCert {
	t.Helper()
	c, err := ca.Authority.Issue(mtls.ServiceIdentity(service), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WriteFiles writes a certificate, its key and the CA PEM into dir
// (created when missing) as cert.pem, key.pem and ca.pem and returns
// their paths, replacing each file whole (rename), as a secret mount
// update does.
func WriteFiles(t testing.TB, dir string, c ServiceCert, caPEM []byte) (cert, key, ca string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("cert.pem", c.Cert), write("key.pem", c.Key), write("ca.pem", caPEM)
}
