package seal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/landscape-dev/landscape/pkg/seal"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key")
	s, err := seal.WriteKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	again, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Seal("globalAccounts/a/systems/s", "whsec_abc")
	if strings.Contains(c, "whsec") {
		t.Fatal("plaintext visible")
	}
	if c == s.Seal("globalAccounts/a/systems/s", "whsec_abc") {
		t.Fatal("two seals of one value are equal (nonce reused)")
	}
	if got, err := again.Open("globalAccounts/a/systems/s", c); err != nil || got != "whsec_abc" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := again.Open("globalAccounts/a/systems/other", c); err != seal.ErrOpen {
		t.Fatalf("other context: %v", err)
	}
	other, _ := seal.WriteKeyFile(filepath.Join(t.TempDir(), "k2"))
	if _, err := other.Open("globalAccounts/a/systems/s", c); err != seal.ErrOpen {
		t.Fatalf("other key: %v", err)
	}
	if _, err := again.Open("globalAccounts/a/systems/s", c[:len(c)-4]+"AAAA"); err != seal.ErrOpen {
		t.Fatalf("tampered: %v", err)
	}
}

func TestLoadKeyFileRefusesBadKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{"short": "AAAA", "notb64": "!!!"} {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte(content), 0o600)
		if _, err := seal.LoadKeyFile(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := seal.LoadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
