package tokens

import (
	"bytes"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// checksumBig is an independent base62 encoding of the CRC-32, via math/big.
func checksumBig(body string) string {
	n := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body))))
	s := n.Text(62) // math/big's base 62 digits are 0-9a-zA-Z: map to 0-9A-Za-z
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z':
			b.WriteRune(c - 'A' + 'a')
		default:
			b.WriteRune(c)
		}
	}
	return strings.Repeat("0", ChecksumLen-b.Len()) + b.String()
}

func TestNewSecretFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		s, err := NewSecret(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 54 || !strings.HasPrefix(s, "lsit_") {
			t.Fatalf("bad shape: len %d", len(s))
		}
		for i := 5; i < 54; i++ {
			if !strings.ContainsRune(base62, rune(s[i])) {
				t.Fatalf("character %d is not base62", i)
			}
		}
		if got, want := s[48:], checksumBig(s[:48]); got != want {
			t.Fatalf("checksum %q, want %q", got, want)
		}
		if err := CheckSecret(s); err != nil {
			t.Fatalf("CheckSecret(new secret) = %v", err)
		}
		if seen[s] {
			t.Fatal("repeated secret")
		}
		seen[s] = true
	}
}

func TestChecksumKnownValue(t *testing.T) {
	t.Parallel()
	body := "lsit_" + strings.Repeat("A", RandomLen)
	var got [ChecksumLen]byte
	writeChecksum(got[:], []byte(body))
	if want := checksumBig(body); string(got[:]) != want {
		t.Fatalf("checksum %q, want %q", got, want)
	}
	// A CRC of 0 is all zero digits (left padding).
	var zero [ChecksumLen]byte
	sum := uint32(0)
	for i := ChecksumLen - 1; i >= 0; i-- {
		zero[i] = base62[sum%62]
		sum /= 62
	}
	if string(zero[:]) != "000000" {
		t.Fatalf("padding: %q", zero)
	}
}

// cycleReader returns 0, 1, ..., 255, 0, 1, ...
type cycleReader struct{ n byte }

func (c *cycleReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func TestRejectionSampling(t *testing.T) {
	t.Parallel()
	// Low six bits 62 and 63 must be dropped, never folded onto 0 and 1.
	s, err := NewSecret(&cycleReader{})
	if err != nil {
		t.Fatal(err)
	}
	want := base62[:RandomLen]
	if got := s[5 : 5+RandomLen]; got != want {
		t.Fatalf("random part %q, want %q", got, want)
	}
	s, err = NewSecret(&cycleReader{n: 60})
	if err != nil {
		t.Fatal(err)
	}
	// 60, 61, then 62 and 63 rejected, then 0...
	if got := s[5:10]; got != "yz012" {
		t.Fatalf("after 60: %q", got)
	}
}

func TestSecretUniformity(t *testing.T) {
	t.Parallel()
	counts := make(map[byte]int, 62)
	const n = 3000
	for range n {
		s, err := NewSecret(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for i := 5; i < 5+RandomLen; i++ {
			counts[s[i]]++
		}
	}
	// Chi-square with 61 degrees of freedom; 120 is far beyond p = 1e-5.
	exp := float64(n*RandomLen) / 62
	chi := 0.0
	for i := range 62 {
		d := float64(counts[base62[i]]) - exp
		chi += d * d / exp
	}
	if chi > 120 {
		t.Fatalf("chi-square %.1f: characters not uniform", chi)
	}
}

func TestRandomReadFailure(t *testing.T) {
	t.Parallel()
	_, err := NewSecret(bytes.NewReader([]byte{1, 2, 3}))
	if apperr.ReasonOf(err) != apperr.Internal {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckSecret(t *testing.T) {
	t.Parallel()
	good, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	swap := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		name, in string
		want     apperr.Reason
	}{
		{"empty", "", apperr.InvalidArgument},
		{"short", good[:53], apperr.TokenInvalid},
		{"long", good + "0", apperr.TokenInvalid},
		{"prefix", "lsiT_" + good[5:], apperr.TokenInvalid},
		{"other prefix", "ghp_x" + good[5:], apperr.TokenInvalid},
		{"alphabet", good[:10] + "-" + good[11:], apperr.TokenInvalid},
		{"non-ascii", good[:52] + "é", apperr.TokenInvalid},
		{"random part mistyped", swap(20), apperr.TokenInvalid},
		{"checksum mistyped", swap(50), apperr.TokenInvalid},
		{"whitespace", " " + good[:53], apperr.TokenInvalid},
	}
	for _, c := range cases {
		err := CheckSecret(c.in)
		if got := apperr.ReasonOf(err); got != c.want {
			t.Errorf("%s: reason %s, want %s", c.name, got, c.want)
		}
		if err != nil && strings.Contains(err.Error(), good[5:48]) {
			t.Errorf("%s: error holds the token", c.name)
		}
	}
	var ae *apperr.Error
	if err := CheckSecret(""); !errors.As(err, &ae) || ae.Violations[0].Field != "integrationToken" {
		t.Fatalf("empty: %v", err)
	}
	// Every single-character substitution anywhere is caught by the CRC.
	for i := 5; i < SecretLen; i++ {
		for _, c := range []byte("0Zz") {
			if good[i] == c {
				continue
			}
			b := []byte(good)
			b[i] = c
			if CheckSecret(string(b)) == nil {
				t.Fatalf("substitution at %d accepted", i)
			}
		}
	}
}

func TestHashSecret(t *testing.T) {
	t.Parallel()
	// SHA-256("abc")
	if got := HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := NewSecret(rand.Reader)
	for _, s := range []string{
		"", "lsit_", good, good[:53], good + "x", strings.Repeat("0", 54),
		"lsit_" + strings.Repeat("0", 49), "lsit_" + strings.Repeat("z", 49),
		"lsit_" + strings.Repeat("A", 43) + checksumBig("lsit_"+strings.Repeat("A", 43)),
		strings.Repeat("é", 27), "LSIT_" + good[5:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckSecret(s)
		if err == nil {
			if len(s) != SecretLen || !strings.HasPrefix(s, SecretPrefix) || s[48:] != checksumBig(s[:48]) {
				t.Fatalf("accepted a malformed token %q", s)
			}
			return
		}
		want := apperr.TokenInvalid
		if s == "" {
			want = apperr.InvalidArgument
		}
		if got := apperr.ReasonOf(err); got != want {
			t.Fatalf("reason %s, want %s", got, want)
		}
		if len(s) > 8 && strings.Contains(err.Error(), s) {
			t.Fatal("error holds the input")
		}
	})
}
