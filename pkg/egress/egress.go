// Package egress guards the requests Landscape makes to addresses its
// users chose (webhooks): https only, and never to a private, loopback,
// link-local, CGNAT, metadata or otherwise non-public address. The address
// is checked when a URL is registered (CheckURL) and again on every
// connection (Client), after the name is resolved, so a DNS name that
// rebinds to an inside address later is still refused. Redirects are
// never followed and answers are read up to a cap.
//
// AllowInsecure lifts the https rule and the address checks, for
// development and tests (`landscape dev`, --webhook-allow-insecure).
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc opens a connection to an address "ip:port".
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Guard checks and dials outbound addresses.
type Guard struct {
	// AllowInsecure permits http and any address.
	AllowInsecure bool
	// Resolver is used for every lookup; nil: net.DefaultResolver.
	Resolver Resolver
	// Dial opens the connection to an address already checked; nil: a
	// net.Dialer whose Control checks the address once more.
	Dial DialFunc
}

// ErrRefused wraps every refusal; the message says why.
var ErrRefused = errors.New("egress refused")

func refused(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
}

// blocked are the non-public ranges (IPv4 also in its IPv4-mapped IPv6 form).
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // this network
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // CGNAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata 169.254.169.254
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"64:ff9b::/96",    // NAT64: may embed any IPv4
		"64:ff9b:1::/48",  // local NAT64
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local, incl. metadata fd00:ec2::254
		"fe80::/10",       // link-local
		"ff00::/8",        // multicast
		"2002::/16",       // 6to4: may embed any IPv4
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether ip is a public unicast address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL checks a URL as it is registered: absolute, https (unless
// AllowInsecure), no user info, and every address its host resolves to is
// public (unless AllowInsecure).
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return refused("not an absolute http(s) URL")
	}
	if u.User != nil {
		return refused("user information in the URL")
	}
	if u.Fragment != "" {
		return refused("a fragment in the URL")
	}
	if g.AllowInsecure {
		return nil
	}
	if u.Scheme != "https" {
		return refused("https only")
	}
	_, err = g.resolve(ctx, u.Hostname())
	return err
}

func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if !g.AllowInsecure && !Public(ip) {
			return nil, refused("%s is not a public address", ip)
		}
		return []netip.Addr{ip}, nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, refused("cannot resolve %s", host)
	}
	if len(ips) == 0 {
		return nil, refused("%s has no address", host)
	}
	if !g.AllowInsecure {
		for _, ip := range ips {
			if !Public(ip) {
				return nil, refused("%s resolves to %s, not a public address", host, ip.Unmap())
			}
		}
	}
	return ips, nil
}

// DialContext resolves addr's host with the guard's resolver, refuses a
// non-public address, and dials the checked address itself (never the
// name again), trying each in turn.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, refused("bad address %q", addr)
	}
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	dial := g.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
		dial = d.DialContext
	}
	var last error
	for _, ip := range ips {
		c, err := dial(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// control checks the address the socket is about to connect to.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	if g.AllowInsecure {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !Public(ap.Addr()) {
		return refused("%s is not a public address", address)
	}
	return nil
}

// MaxAnswer is how much of an answer is read; the rest is cut.
const MaxAnswer = 64 << 10

// Timeout bounds one request, answer included.
const Timeout = 10 * time.Second

// Client returns an HTTP client that dials through the guard, refuses
// non-https URLs (unless AllowInsecure), follows no redirect, uses no
// proxy from the environment and gives up after Timeout.
func (g *Guard) Client() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   Timeout,
		ResponseHeaderTimeout: Timeout,
	}
	return &http.Client{
		Transport: schemeCheck{g: g, next: tr},
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type schemeCheck struct {
	g    *Guard
	next http.RoundTripper
}

func (s schemeCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if !s.g.AllowInsecure && r.URL.Scheme != "https" {
		return nil, refused("https only")
	}
	return s.next.RoundTrip(r)
}

// ReadAnswer reads at most MaxAnswer bytes of a response body; more is cut.
// It reports whether the answer was cut.
func ReadAnswer(resp *http.Response) ([]byte, bool) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if len(b) > MaxAnswer {
		return b[:MaxAnswer], true
	}
	return b, false
}
