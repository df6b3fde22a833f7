package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/mtls"
)

const certsSummary = "write a CA and a certificate per service and for NATS (mutual TLS of docker compose)"

// certsHelp follows the summary in `landscape certs --help`.
const certsHelp = `

  landscape certs [flags] DIR

Writes, for docker compose (docs/API.md, "Mutual TLS between services"):
  DIR/ca/ca.crt, DIR/ca/ca.key        the CA (its key stays here; no service mounts it)
  DIR/<name>/tls.crt, tls.key, ca.crt  for registry, token, formation and gateway
                                       (URI SAN spiffe://landscape/<name>, DNS <name>,
                                       IP 127.0.0.1) and nats (DNS nats, localhost)
the file names of the Kubernetes Secrets. Files that exist are kept, so it
can run at every start; a certificate that ends within --renew-before or
that the CA did not sign is issued again by the same CA (the services read
it again within 10 s); --force replaces all, with a new CA. Keys are
readable by their owner only: run it as the user of the services (the
image's uid 65532). Example:

  landscape certs ./certs
  landscape token --tls-cert-file ./certs/token/tls.crt --tls-key-file ./certs/token/tls.key \
      --tls-ca-file ./certs/token/ca.crt ...`

func certsCommand() (*config.FlagSet, func(context.Context, env) error) {
	var force bool
	var validity, caValidity, renewBefore time.Duration
	fs := config.New("landscape certs", "landscape certs: "+certsSummary+certsHelp)
	fs.Bool(&force, "force", "LANDSCAPE_CERTS_FORCE", false, "replace existing files (a new CA and new certificates)")
	fs.Duration(&validity, "validity", "LANDSCAPE_CERTS_VALIDITY", 365*24*time.Hour, "lifetime of each certificate")
	fs.Duration(&caValidity, "ca-validity", "LANDSCAPE_CERTS_CA_VALIDITY", 10*365*24*time.Hour, "lifetime of the CA")
	fs.Duration(&renewBefore, "renew-before", "LANDSCAPE_CERTS_RENEW_BEFORE", 30*24*time.Hour, "issue a kept certificate again when it ends within this time")
	return fs, func(_ context.Context, e env) error {
		if len(e.args) != 1 {
			return usagef("want one directory, got %d argument(s)", len(e.args))
		}
		if err := positive("validity", validity); err != nil {
			return err
		}
		if err := positive("ca-validity", caValidity); err != nil {
			return err
		}
		if renewBefore < 0 || renewBefore >= validity {
			return usagef("--renew-before must be at least 0 and less than --validity")
		}
		return writeCerts(e, e.args[0], force, validity, caValidity, renewBefore)
	}
}

func exists(p string) (bool, error) {
	_, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func allExist(paths ...string) (all, any bool, err error) {
	all = true
	for _, p := range paths {
		ok, err := exists(p)
		if err != nil {
			return false, false, err
		}
		all, any = all && ok, any || ok
	}
	return all, any, nil
}

// writeFile replaces p whole (a reader sees the old or the new file).
func writeFile(p string, b []byte, mode os.FileMode) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // whatever the umask
		return err
	}
	return os.Rename(tmp, p)
}

// current reports whether the certificate in file was signed by ca and
// lasts beyond renewBefore.
func current(file string, ca *mtls.Authority, renewBefore time.Duration) bool {
	raw, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil && time.Until(cert.NotAfter) > renewBefore
}

func writeCerts(e env, dir string, force bool, validity, caValidity, renewBefore time.Duration) error {
	caDir := filepath.Join(dir, "ca")
	caCert, caKey := filepath.Join(caDir, "ca.crt"), filepath.Join(caDir, "ca.key")
	haveCA, partCA, err := allExist(caCert, caKey)
	if err != nil {
		return err
	}
	ids := mtls.ComposeIdentities()
	var ca *mtls.Authority
	if haveCA && !force {
		certPEM, err := os.ReadFile(caCert)
		if err != nil {
			return err
		}
		keyPEM, err := os.ReadFile(caKey)
		if err != nil {
			return err
		}
		if ca, err = mtls.LoadAuthority(certPEM, keyPEM); err != nil {
			return fmt.Errorf("%s: %w", caDir, err)
		}
		fmt.Fprintf(e.stdout, "kept %s\n", caDir)
	} else {
		if !force {
			// Certificates without their CA key: a new CA would not
			// sign them, so do not mix.
			for _, id := range ids {
				ok, err := exists(filepath.Join(dir, id.Name, "tls.crt"))
				if err != nil {
					return err
				}
				if ok {
					return fmt.Errorf("%s has certificates but no complete CA in %s; pass --force to replace them all", dir, caDir)
				}
			}
			if partCA {
				return fmt.Errorf("%s is incomplete; pass --force to replace it", caDir)
			}
		}
		if ca, err = mtls.NewAuthority("landscape compose CA", caValidity); err != nil {
			return err
		}
		if err := os.MkdirAll(caDir, 0o700); err != nil {
			return err
		}
		if err := writeFile(caKey, ca.KeyPEM, 0o600); err != nil {
			return err
		}
		if err := writeFile(caCert, ca.CertPEM, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", caDir)
	}
	for _, id := range ids {
		d := filepath.Join(dir, id.Name)
		crt, key, cafile := filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"), filepath.Join(d, "ca.crt")
		all, _, err := allExist(crt, key, cafile)
		if err != nil {
			return err
		}
		if all && !force && current(crt, ca, renewBefore) {
			fmt.Fprintf(e.stdout, "kept %s\n", d)
			continue
		}
		c, err := ca.Issue(id, validity)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// The key first: tls.crt is the last file a reader sees change.
		for _, f := range []struct {
			path string
			b    []byte
			mode os.FileMode
		}{{key, c.Key, 0o600}, {cafile, ca.CertPEM, 0o644}, {crt, c.Cert, 0o644}} {
			if err := writeFile(f.path, f.b, f.mode); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", d)
	}
	return nil
}
