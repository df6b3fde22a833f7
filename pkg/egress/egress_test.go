package egress_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/landscape-dev/landscape/pkg/egress"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// fakeResolver answers from a table; each name may rebind: the n-th
// lookup gets answers[min(n, len-1)].
type fakeResolver struct {
	mu    sync.Mutex
	table map[string][]string
	calls map[string]int
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	answers, ok := f.table[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	n := min(f.calls[host], len(answers)-1)
	f.calls[host]++
	return []netip.Addr{netip.MustParseAddr(answers[n])}, nil
}

func TestPublic(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "169.254.169.254": false, "::1": false,
		"100.64.0.1": false, "192.168.1.1": false, "172.16.0.1": false, "0.0.0.0": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "fd00:ec2::254": false, "fe80::1": false,
		"64:ff9b::a00:1": false, "224.0.0.1": false,
		"93.184.216.34": true, "2606:4700::6810:85e5": true, "8.8.8.8": true,
	} {
		if got := egress.Public(netip.MustParseAddr(s)); got != want {
			t.Errorf("Public(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	res := &fakeResolver{table: map[string][]string{
		"public.example": {"93.184.216.34"}, "inside.example": {"10.0.0.7"},
		"meta.example": {"169.254.169.254"}, "loop.example": {"127.0.0.1"}, "v6loop.example": {"::1"},
	}, calls: map[string]int{}}
	g := &egress.Guard{Resolver: res, Dial: testkit.LoopbackDialer(t)}
	for raw, ok := range map[string]bool{
		"https://public.example/hook":    true,
		"http://public.example/hook":     false,
		"https://inside.example/":        false,
		"https://meta.example/":          false,
		"https://loop.example/":          false,
		"https://v6loop.example/":        false,
		"https://127.0.0.1/":             false,
		"https://[::1]:8443/":            false,
		"https://10.0.0.1/":              false,
		"https://169.254.169.254/":       false,
		"https://user:pw@public.example": false,
		"https://unknown.example/":       false,
		"ftp://public.example/":          false,
		"/relative":                      false,
	} {
		err := g.CheckURL(t.Context(), raw)
		if (err == nil) != ok {
			t.Errorf("CheckURL(%s) = %v, want ok=%v", raw, err, ok)
		}
		if err != nil && !errors.Is(err, egress.ErrRefused) {
			t.Errorf("CheckURL(%s): %v is not ErrRefused", raw, err)
		}
	}
	insecure := &egress.Guard{AllowInsecure: true, Resolver: res, Dial: testkit.LoopbackDialer(t)}
	for _, raw := range []string{"http://127.0.0.1:8080/x", "https://inside.example/", "http://[::1]/"} {
		if err := insecure.CheckURL(t.Context(), raw); err != nil {
			t.Errorf("insecure CheckURL(%s) = %v", raw, err)
		}
	}
}

// Every refused target is refused at dial time too, before the test
// dialer sees it; a name that passed registration and then rebinds to
// loopback is refused when dialled.
func TestClientRefusesInsideAddressesAtDialTime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a request reached the loopback server through the guard")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := &fakeResolver{table: map[string][]string{
		"rebind.example": {"93.184.216.34", "127.0.0.1"},
		"inside.example": {"10.0.0.7"}, "meta.example": {"169.254.169.254"},
		"loop.example": {"127.0.0.1"}, "v6loop.example": {"::1"},
	}, calls: map[string]int{}}
	g := &egress.Guard{Resolver: res, Dial: testkit.LoopbackDialer(t)}
	if err := g.CheckURL(t.Context(), "https://rebind.example:"+port+"/"); err != nil {
		t.Fatalf("registration of the rebinding name: %v", err)
	}
	c := g.Client()
	for _, host := range []string{"rebind.example", "inside.example", "meta.example", "loop.example", "v6loop.example", "127.0.0.1", "[::1]", "10.0.0.1", "169.254.169.254"} {
		resp, err := c.Post("https://"+host+":"+port+"/", "application/json", nil)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: request went through", host)
			continue
		}
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("%s: %v, want a refusal", host, err)
		}
	}
	resp, err := c.Post("http://93.184.216.34/", "application/json", nil)
	if err == nil || !errors.Is(err, egress.ErrRefused) {
		if resp != nil {
			resp.Body.Close()
		}
		t.Errorf("http: %v, want refused", err)
	}
}

func TestClientInsecureReachesLoopbackAndFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "http://169.254.169.254/latest", http.StatusFound)
			return
		}
		_, _ = w.Write(make([]byte, 100<<10))
	}))
	defer srv.Close()
	g := &egress.Guard{AllowInsecure: true, Dial: testkit.LoopbackDialer(t)}
	c := g.Client()
	resp, err := c.Get(srv.URL + "/moved")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", resp.StatusCode)
	}
	resp, err = c.Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := egress.ReadAnswer(resp)
	if len(b) != egress.MaxAnswer {
		t.Fatalf("read %d bytes, want the cap %d", len(b), egress.MaxAnswer)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}
