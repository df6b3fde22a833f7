package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsCommand: `landscape certs` wants one folder, refuses to mix
// certificates with a new CA when the old CA's key is gone, and --force
// then replaces them all.
func TestCertsCommand(t *testing.T) {
	t.Parallel()
	certs := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(t.Context(), append([]string{"certs"}, args...), &out, &errb, noEnv)
		return code, out.String() + errb.String()
	}
	if code, _ := certs(); code != exitUsage {
		t.Errorf("landscape certs without a folder: exit %d, want %d", code, exitUsage)
	}
	dir := t.TempDir()
	if code, out := certs(dir); code != exitOK || !strings.Contains(out, "wrote "+filepath.Join(dir, "token")) {
		t.Fatalf("landscape certs: exit %d: %s", code, out)
	}
	if code, out := certs(dir); code != exitOK || strings.Contains(out, "wrote") {
		t.Errorf("landscape certs again: exit %d, want every file kept: %s", code, out)
	}
	if err := os.Remove(filepath.Join(dir, "ca", "ca.key")); err != nil {
		t.Fatal(err)
	}
	if code, out := certs(dir); code != exitFailure || !strings.Contains(out, "--force") {
		t.Errorf("landscape certs without the CA key: exit %d, want %d and a hint at --force: %s", code, exitFailure, out)
	}
	if code, out := certs("--force", dir); code != exitOK || !strings.Contains(out, "wrote "+filepath.Join(dir, "ca")) {
		t.Errorf("landscape certs --force: exit %d: %s", code, out)
	}
	// A certificate near its end is issued again by the same CA.
	before, _ := os.ReadFile(filepath.Join(dir, "token", "tls.crt"))
	if code, out := certs("--validity", "48h", "--renew-before", "24h", dir); code != exitOK || strings.Contains(out, "wrote") {
		t.Errorf("landscape certs, certificates far from their end: exit %d, want all kept: %s", code, out)
	}
	if code, out := certs("--validity", "20000h", "--renew-before", "9000h", dir); code != exitOK || !strings.Contains(out, "wrote "+filepath.Join(dir, "token")) || !strings.Contains(out, "kept "+filepath.Join(dir, "ca")) {
		t.Errorf("landscape certs --renew-before beyond the certificates' end: exit %d, want them renewed by the kept CA: %s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "token", "tls.crt")); bytes.Equal(before, after) {
		t.Error("the token certificate was not renewed")
	}
	key, err := os.Stat(filepath.Join(dir, "gateway", "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if key.Mode().Perm() != 0o600 {
		t.Errorf("gateway/tls.key: mode %v, want 0600", key.Mode().Perm())
	}
}
