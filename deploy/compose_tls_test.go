package deploy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// natsTLSFile matches a file setting of nats.conf's tls block.
var natsTLSFile = regexp.MustCompile(`(?m)^\s*(cert_file|key_file|ca_file):\s*(\S+)\s*$`)

// TestComposeTLS: a one-shot service runs `landscape certs` into a named
// volume; every other service waits for it to finish, mounts only its own
// folder of the volume read-only and uses it — the landscape services for
// mutual TLS (--tls-*-file) and for the NATS CA, NATS for its tls block —
// and what `landscape certs` writes fits those settings: each service's
// identity and DNS name, the NATS server's name in the tls:// URL.
func TestComposeTLS(t *testing.T) {
	t.Parallel()
	b := landscape(t)
	c := loadCompose(t)
	if _, ok := b.commands["certs"]; !ok {
		t.Fatal("landscape has no certs command")
	}

	// The certs service.
	var certsName, certsDir, volume string
	for name, s := range c.Services {
		if len(s.Command) > 0 && s.Command[0] == "certs" {
			certsName = name
			if s.Image != "landscape:dev" || s.Build == nil {
				t.Errorf("compose service %s: want the landscape image", name)
			}
			if len(s.Command) != 2 {
				t.Fatalf("compose service %s: command %q, want [certs DIR]", name, s.Command)
			}
			certsDir = s.Command[1]
			for _, v := range s.Volumes {
				if v.Target == certsDir && !v.ReadOnly && v.Volume.Subpath == "" {
					volume = v.Source
				}
			}
		}
	}
	if certsName == "" {
		t.Fatal("compose: no service runs landscape certs")
	}
	if _, ok := c.Volumes[volume]; !ok || volume == "" {
		t.Fatalf("compose service %s: %s is on no named volume (writable)", certsName, certsDir)
	}
	// The image's user owns the folder, so that a new volume there is
	// writable by it (uid 65532: the Dockerfile's USER).
	df, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build --chown=65532:65532 \S+ ` + regexp.QuoteMeta(certsDir) + `\s*$`).Match(df) {
		t.Errorf("Dockerfile: %s is not a folder owned by uid 65532 (COPY --chown=65532:65532 ... %s)", certsDir, certsDir)
	}

	// Run the command as the certs service does, into a temporary folder.
	dir := t.TempDir()
	for range 2 { // the second run keeps every file
		if out, err := exec.Command(b.path, "certs", dir).CombinedOutput(); err != nil {
			t.Fatalf("landscape certs: %v\n%s", err, out)
		}
	}

	// mount returns the folder of the volume that service name mounts,
	// and where.
	mount := func(name string, s composeService) (subpath, target string) {
		t.Helper()
		if s.DependsOn["certs"].Condition != "service_completed_successfully" && name != certsName {
			t.Errorf("compose service %s: want depends_on %s with condition service_completed_successfully", name, certsName)
		}
		for _, v := range s.Volumes {
			if v.Source != volume {
				continue
			}
			if !v.ReadOnly {
				t.Errorf("compose service %s: mounts volume %s writable; want read_only", name, volume)
			}
			if v.Volume.Subpath == "" {
				t.Errorf("compose service %s: mounts all of volume %s (the CA key and every key); want its own folder (volume.subpath)", name, volume)
			}
			return v.Volume.Subpath, v.Target
		}
		t.Errorf("compose service %s: does not mount volume %s", name, volume)
		return "", ""
	}
	load := func(what, folder string) (*x509.Certificate, *x509.CertPool) {
		t.Helper()
		crt, err := os.ReadFile(filepath.Join(dir, folder, "tls.crt"))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		key, err := os.ReadFile(filepath.Join(dir, folder, "tls.key"))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := tls.X509KeyPair(crt, key); err != nil {
			t.Errorf("%s: certificate and key: %v", what, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, folder, "tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: tls.key: want mode 0600, readable by the image's user who wrote it: %v %v", what, fi.Mode(), err)
		}
		ca, err := os.ReadFile(filepath.Join(dir, folder, "ca.crt"))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			t.Errorf("%s: ca.crt holds no certificate", what)
		}
		block, _ := pem.Decode(crt)
		if block == nil {
			t.Fatalf("%s: tls.crt is not PEM", what)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return cert, pool
	}

	// NATS: a tls block whose files are those of its folder.
	n, ok := c.Services["nats"]
	if !ok {
		t.Fatal("compose: no nats service")
	}
	natsFolder, natsTarget := mount("nats", n)
	var conf string
	for _, v := range n.Volumes {
		if strings.HasSuffix(v.Source, "nats.conf") {
			raw, err := os.ReadFile(filepath.Join(repo, v.Source))
			if err != nil {
				t.Fatal(err)
			}
			conf = string(raw)
		}
	}
	if !strings.Contains(conf, "\ntls {") {
		t.Error("compose nats.conf: no tls block: clients would talk to NATS in plaintext")
	}
	files := map[string]string{}
	for _, m := range natsTLSFile.FindAllStringSubmatch(conf, -1) {
		files[m[1]] = m[2]
	}
	for key, file := range map[string]string{"cert_file": "tls.crt", "key_file": "tls.key", "ca_file": "ca.crt"} {
		if files[key] != path.Join(natsTarget, file) {
			t.Errorf("compose nats.conf: tls %s %q, want %s of the mounted folder %s", key, files[key], file, natsTarget)
		}
	}
	natsCert, _ := load("nats", natsFolder)

	// The services: their own identity, for mutual TLS and the NATS CA.
	seen := 0
	for name, s := range c.Services {
		if len(s.Command) == 0 || !slices.Contains(serviceCommands, s.Command[0]) {
			continue
		}
		seen++
		cmd, values := settingsOf(t, b, name, s)
		folder, target := mount(name, s)
		if folder != cmd {
			t.Errorf("compose service %s: mounts folder %q of the certificates, want its own %q", name, folder, cmd)
		}
		for flag, file := range map[string]string{"tls-cert-file": "tls.crt", "tls-key-file": "tls.key", "tls-ca-file": "ca.crt", "nats-ca-file": "ca.crt"} {
			if _, ok := b.commands[cmd][flag]; !ok {
				t.Errorf("landscape %s has no --%s", cmd, flag)
			}
			if values[flag] != path.Join(target, file) {
				t.Errorf("compose service %s: --%s=%q, want %s", name, flag, values[flag], path.Join(target, file))
			}
		}
		u, err := url.Parse(values["nats-url"])
		if err != nil || u.Scheme != "tls" {
			t.Errorf("compose service %s: --nats-url=%q is no tls:// URL", name, values["nats-url"])
			continue
		}
		cert, pool := load(name, folder)
		if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://landscape/"+cmd {
			t.Errorf("compose service %s: certificate identity %v, want spiffe://landscape/%s", name, cert.URIs, cmd)
		}
		// Its peers dial it by its compose service name.
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("compose service %s: certificate for %s (usage %v): %v", name, name, usage, err)
			}
		}
		if _, err := natsCert.Verify(x509.VerifyOptions{Roots: pool, DNSName: u.Hostname()}); err != nil {
			t.Errorf("compose service %s: the NATS certificate does not verify for %s with its CA: %v", name, u.Hostname(), err)
		}
	}
	if seen != len(serviceCommands) {
		t.Errorf("compose: %d landscape services, want %d", seen, len(serviceCommands))
	}

	// Idempotent: a third run changes nothing; --force makes a new CA.
	before, _ := os.ReadFile(filepath.Join(dir, "token", "tls.crt"))
	if out, err := exec.Command(b.path, "certs", dir).CombinedOutput(); err != nil {
		t.Fatalf("landscape certs: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "token", "tls.crt"))
	if !bytes.Equal(before, after) {
		t.Error("landscape certs replaced an existing certificate without --force")
	}
	if out, err := exec.Command(b.path, "certs", "--force", dir).CombinedOutput(); err != nil {
		t.Fatalf("landscape certs --force: %v\n%s", err, out)
	}
	after, _ = os.ReadFile(filepath.Join(dir, "token", "tls.crt"))
	if bytes.Equal(before, after) {
		t.Error("landscape certs --force kept an existing certificate")
	}
}
