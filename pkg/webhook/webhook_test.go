package webhook_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/webhook"
)

// hmacSHA256 is HMAC (RFC 2104) written out over SHA-256, independent of
// crypto/hmac and of the package's signing code.
func hmacSHA256(key, msg []byte) []byte {
	const block = 64
	if len(key) > block {
		h := sha256.Sum256(key)
		key = h[:]
	}
	k := make([]byte, block)
	copy(k, key)
	inner, outer := sha256.New(), sha256.New()
	for i := range k {
		inner.Write([]byte{k[i] ^ 0x36})
		outer.Write([]byte{k[i] ^ 0x5c})
	}
	inner.Write(msg)
	outer.Write(inner.Sum(nil))
	return outer.Sum(nil)
}

// independentSignature follows the Standard Webhooks text: decode the
// base64 after "whsec_", sign "id.timestamp.body", prefix "v1,".
func independentSignature(t *testing.T, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	msg := id + "." + strconv.FormatInt(ts, 10) + "." + string(body)
	return "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(key, []byte(msg)))
}

func TestSignMatchesAnIndependentImplementation(t *testing.T) {
	t.Parallel()
	for range 20 {
		secret := webhook.NewSecret()
		body := []byte(`{"type":"assignment.created","n":` + strconv.Itoa(len(secret)) + `}`)
		h := http.Header{}
		at := time.Unix(1_800_000_000, 0)
		webhook.SetHeaders(h, []string{secret}, "msg_1", at, body)
		if got, want := h.Get(webhook.HeaderSignature), independentSignature(t, secret, "msg_1", at.Unix(), body); got != want {
			t.Fatalf("signature %s, independent %s", got, want)
		}
	}
}

// The example of the Standard Webhooks reference libraries.
func TestStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got := webhook.SignatureHeader([]string{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := independentSignature(t, secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body); got != want {
		t.Fatalf("independent HMAC got %s, want %s", got, want)
	}
}

// openssl is a third implementation, when the machine has it.
func TestSignMatchesOpenSSL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed; TestSignMatchesAnIndependentImplementation covers the algorithm")
	}
	secret := webhook.NewSecret()
	key, _ := webhook.Key(secret)
	body := []byte(`{"a":"b"}`)
	cmd := exec.Command("openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+hexOf(key), "-binary")
	cmd.Stdin = strings.NewReader("id1.42." + string(body))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := webhook.SignatureHeader([]string{secret}, "id1", 42, body), "v1,"+base64.StdEncoding.EncodeToString(out); got != want {
		t.Fatalf("got %s, openssl %s", got, want)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	cur, old := webhook.NewSecret(), webhook.NewSecret()
	body := []byte(`{"state":"READY"}`)
	sig := independentSignature(t, cur, "id1", now.Unix(), body)
	ts := strconv.FormatInt(now.Unix(), 10)
	cases := []struct {
		name    string
		secrets []string
		id, ts  string
		sig     string
		body    []byte
		at      time.Time
		want    error
	}{
		{"ok", []string{cur}, "id1", ts, sig, body, now, nil},
		{"ok under the second secret", []string{old, cur}, "id1", ts, sig, body, now, nil},
		{"one of several signatures", []string{cur}, "id1", ts, "v1,AAAA " + sig, body, now, nil},
		{"tampered body", []string{cur}, "id1", ts, sig, []byte(`{"state":"ERROR"}`), now, webhook.ErrBadSignature},
		{"other id", []string{cur}, "id2", ts, sig, body, now, webhook.ErrBadSignature},
		{"wrong secret", []string{old}, "id1", ts, sig, body, now, webhook.ErrBadSignature},
		{"stale", []string{cur}, "id1", ts, sig, body, now.Add(5*time.Minute + time.Second), webhook.ErrStaleTimestamp},
		{"future", []string{cur}, "id1", ts, sig, body, now.Add(-5*time.Minute - time.Second), webhook.ErrStaleTimestamp},
		{"bad timestamp", []string{cur}, "id1", "x", sig, body, now, webhook.ErrStaleTimestamp},
		{"missing", []string{cur}, "id1", ts, "", body, now, webhook.ErrMissingHeaders},
	}
	for _, c := range cases {
		if err := webhook.Verify(c.secrets, c.id, c.ts, c.sig, c.body, c.at); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "whsec_", "whsec_!!!", "abc_" + strings.Repeat("A", 44), "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := webhook.Key(s); err == nil {
			t.Errorf("Key(%q) accepted", s)
		}
	}
	if k, err := webhook.Key(webhook.NewSecret()); err != nil || len(k) != webhook.SecretBytes {
		t.Fatalf("new secret: %v %d", err, len(k))
	}
}
