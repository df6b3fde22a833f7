package gateway

import (
	"net/http"
	"testing"
)

func TestClientAddrTrustedProxies(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		header     http.Header
		want       string
	}{
		{"untrusted peer: headers ignored", "203.0.113.9:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.9"},
		{"trusted proxy, one hop", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"spoofed hops before the real client are not believed", "10.1.2.3:443",
			http.Header{"X-Forwarded-For": {"1.1.1.1, 2.2.2.2, 198.51.100.1"}}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"198.51.100.1, 192.0.2.7"}}, "198.51.100.1"},
		{"several header lines", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"9.9.9.9", "198.51.100.1, 10.9.9.9"}}, "198.51.100.1"},
		{"Forwarded wins", "10.1.2.3:443", http.Header{
			"Forwarded": {`for=198.51.100.2;proto=https, for="[2001:db8::1]:4711"`}, "X-Forwarded-For": {"6.6.6.6"}}, "2001:db8::1"},
		{"Forwarded v4 with port", "10.1.2.3:443", http.Header{"Forwarded": {"for=198.51.100.2:1234"}}, "198.51.100.2"},
		{"garbage hop stops at the proxy", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"1.1.1.1, unknown"}}, "10.1.2.3"},
		{"only trusted hops", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"10.4.4.4"}}, "10.4.4.4"},
		{"no header", "10.1.2.3:443", http.Header{}, "10.1.2.3"},
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: tc.header}
		if got := clientAddr(r, trusted); got != tc.want {
			t.Errorf("%s: clientAddr = %q, want %q", tc.name, got, tc.want)
		}
	}
	// Without trusted proxies, nothing but the TCP peer counts.
	r := &http.Request{RemoteAddr: "10.1.2.3:443", Header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}}
	if got := clientAddr(r, nil); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: %q", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/1"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
}
