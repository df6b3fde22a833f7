// Package mtls is mutual TLS between the Landscape services: each service
// has its own certificate (identity spiffe://landscape/<service> in a URI
// SAN), all signed by one CA. The certificate, key and CA come from files
// that are read again when they change, so a rotated certificate is used
// without a restart.
package mtls

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// IdentityPrefix starts the URI SAN that names a service.
const IdentityPrefix = "spiffe://landscape/"

// DefaultReload is how often Watch looks at the files.
const DefaultReload = 10 * time.Second

// Files are the PEM files of one service.
type Files struct {
	Cert string // the service's certificate chain
	Key  string // its private key
	CA   string // the CA(s) that sign every service's certificate
}

// Enabled reports whether any file is set.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Check refuses a partial set: all three files are needed.
func (f Files) Check() error {
	if f.Enabled() && (f.Cert == "" || f.Key == "" || f.CA == "") {
		return errors.New("mtls: set the certificate, key and CA files together")
	}
	return nil
}

// Source holds the current certificate and CA pool of a service.
type Source struct {
	files  Files
	logger *slog.Logger

	mu   sync.RWMutex
	cert *tls.Certificate
	pool *x509.CertPool
	sum  [sha256.Size]byte // of the three files' contents
}

// Load reads the files once; they must hold a certificate, its key and
// at least one CA.
func Load(files Files, logger *slog.Logger) (*Source, error) {
	if err := files.Check(); err != nil {
		return nil, err
	}
	if !files.Enabled() {
		return nil, errors.New("mtls: no files")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{files: files, logger: logger}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the files and takes them when they changed and are valid;
// it reports whether it took new ones.
func (s *Source) reload() (bool, error) {
	var raw [3][]byte
	for i, name := range []string{s.files.Cert, s.files.Key, s.files.CA} {
		b, err := os.ReadFile(name)
		if err != nil {
			return false, fmt.Errorf("mtls: %w", err)
		}
		raw[i] = b
	}
	sum := sha256.Sum256(bytes.Join(raw[:], []byte{0}))
	s.mu.RLock()
	same := s.cert != nil && sum == s.sum
	s.mu.RUnlock()
	if same {
		return false, nil
	}
	cert, err := tls.X509KeyPair(raw[0], raw[1])
	if err != nil {
		return false, fmt.Errorf("mtls: certificate and key: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw[2]) {
		return false, errors.New("mtls: the CA file holds no certificate")
	}
	s.mu.Lock()
	s.cert, s.pool, s.sum = &cert, pool, sum
	s.mu.Unlock()
	return true, nil
}

// Watch reads the files again every interval (DefaultReload when 0)
// until ctx ends. A change that does not load (a half-written file, a
// key that does not match) is logged and the previous material kept.
func (s *Source) Watch(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultReload
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := s.reload()
		switch {
		case err != nil && !failing:
			s.logger.Warn("mtls: cannot reload the certificate files; keeping the loaded ones", "error", err.Error())
			failing = true
		case err == nil && changed:
			s.logger.Info("mtls: certificate files reloaded", "identity", s.Identity())
			failing = false
		case err == nil:
			failing = false
		}
	}
}

func (s *Source) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert, s.pool
}

// Identity is the service name in the current certificate's URI SAN
// ("" when it has none).
func (s *Source) Identity() string {
	c, _ := s.current()
	if c == nil || len(c.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return ""
	}
	return identityOf(leaf)
}

func identityOf(c *x509.Certificate) string {
	for _, u := range c.URIs {
		if name, ok := strings.CutPrefix(u.String(), IdentityPrefix); ok && name != "" && !strings.Contains(name, "/") {
			return name
		}
	}
	return ""
}

// ServerConfig is the TLS configuration of a gRPC server: TLS 1.3 with the
// current certificate; a client certificate is verified against the
// current CA when given (callers without one, such as a probe, get TLS
// and must authenticate by JWT; internal methods need an identity, see
// PeerIdentity).
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := s.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*cert},
				ClientCAs:    pool,
				ClientAuth:   tls.VerifyClientCertIfGiven,
				NextProtos:   []string{"h2"},
			}, nil
		},
	}
}

// ClientConfig is the TLS configuration of a client: it presents the
// current certificate and verifies the server's against the current CA
// and the name it dialled (the chain check is done in VerifyConnection so
// that a reloaded CA applies to new connections).
func (s *Source) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := s.current()
			return cert, nil
		},
		// The default verification is replaced, not skipped: see
		// VerifyConnection, which checks the chain and the name.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, pool := s.current()
			if len(cs.PeerCertificates) == 0 {
				return errors.New("mtls: the server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool, Intermediates: inter, DNSName: cs.ServerName,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}
}

// ServerCredentials are the gRPC server credentials of ServerConfig.
func (s *Source) ServerCredentials() credentials.TransportCredentials {
	return credentials.NewTLS(s.ServerConfig())
}

// ClientCredentials are the gRPC client credentials of ClientConfig.
func (s *Source) ClientCredentials() credentials.TransportCredentials {
	return credentials.NewTLS(s.ClientConfig())
}

// PeerIdentity is the service name of the verified client certificate of
// the call in ctx, if the client presented one.
func PeerIdentity(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	name := identityOf(info.State.VerifiedChains[0][0])
	return name, name != ""
}
