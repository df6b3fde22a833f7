// Package restclient is a small client of Landscape's REST API (the
// gateway): JSON calls with a bearer JWT, the API's error body decoded
// into an *APIError, and the events:watch Server-Sent Events stream. The
// command-line client (`landscape systems …`) is built on it; it uses no
// generated code, like any other client of the API.
package restclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one call (not a watch).
const DefaultTimeout = 30 * time.Second

// maxResponseBytes caps a response body read into memory.
const maxResponseBytes = 64 << 20

// Client calls one Landscape gateway.
type Client struct {
	base *url.URL
	jwt  string
	http *http.Client
	// stream has no overall timeout: a watch lasts as long as it is read.
	stream *http.Client
	agent  string
}

// New returns a client of the gateway at baseURL ("http://127.0.0.1:8080")
// that sends jwt as the bearer token (none when empty). userAgent names
// the caller in the gateway's access log.
func New(baseURL, jwt, userAgent string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", baseURL)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = DefaultTimeout
	return &Client{
		base:   u,
		jwt:    jwt,
		http:   &http.Client{Timeout: DefaultTimeout, Transport: transport},
		stream: &http.Client{Transport: transport},
		agent:  userAgent,
	}, nil
}

// WithJWT returns a client like c that sends jwt as its bearer token (none
// when empty); the two share their connections.
func (c *Client) WithJWT(jwt string) *Client {
	cc := *c
	cc.jwt = jwt
	return &cc
}

// WithConnections returns a client like c, with a connection pool of its
// own that keeps up to n idle connections to the gateway (the default
// keeps 2): for a caller with n calls in flight at once.
func (c *Client) WithConnections(n int) *Client {
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = n, n
	cc := *c
	cc.http = &http.Client{Timeout: c.http.Timeout, Transport: tr}
	cc.stream = &http.Client{Transport: tr}
	return &cc
}

// CloseIdleConnections closes the idle connections of c's pool.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// BaseURL is the gateway's base URL as given.
func (c *Client) BaseURL() string { return c.base.String() }

// APIError is a call the server refused: its HTTP status and the JSON
// status body's reason (from the ErrorInfo detail), message, metadata and
// field violations.
type APIError struct {
	HTTPStatus      int
	Code            int // the gRPC code in the body
	Reason          string
	Message         string
	Metadata        map[string]string
	FieldViolations []FieldViolation
}

// FieldViolation is one invalid field of a request.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (e *APIError) Error() string { return e.Reason + ": " + e.Message }

// UnreachableError is a call that got no HTTP answer: refused, timed out,
// no route, a name that does not resolve, a TLS failure.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Do calls method path (with query) and returns the response body of a
// 2xx answer. body, when not nil, is sent as JSON. A refusal is an
// *APIError; no answer at all is an *UnreachableError.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, query, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if res.StatusCode/100 != 2 {
		return nil, decodeError(res, b)
	}
	return b, nil
}

// Call is Do that decodes the answer's JSON into out (when not nil).
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	b, err := c.Do(ctx, method, path, query, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode the answer: %w", err)
	}
	return nil
}

// request builds a request to path (escaped; it may end in a ":verb") with query.
func (c *Client) request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	target := c.base.String() + path // path is escaped already
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.jwt != "" {
		req.Header.Set("Authorization", "Bearer "+c.jwt)
	}
	if c.agent != "" {
		req.Header.Set("User-Agent", c.agent)
	}
	return req, nil
}

// transportError wraps a failure to get an answer. A canceled context is
// returned as is: the caller stopped, the server is not unreachable.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &UnreachableError{URL: c.base.String(), Err: unwrapURLError(err)}
}

// unwrapURLError drops net/url's "Get \"…\":" prefix, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError turns a non-2xx answer into an *APIError. A body that is not
// the API's JSON status (a proxy's HTML page) keeps the HTTP status text
// as its reason.
func decodeError(res *http.Response, body []byte) *APIError {
	e := &APIError{HTTPStatus: res.StatusCode}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type            string            `json:"@type"`
			Reason          string            `json:"reason"`
			Metadata        map[string]string `json:"metadata"`
			FieldViolations []FieldViolation  `json:"fieldViolations"`
		} `json:"details"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		e.Code, e.Message = st.Code, st.Message
		for _, d := range st.Details {
			switch {
			case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo"):
				e.Reason, e.Metadata = d.Reason, d.Metadata
			case strings.HasSuffix(d.Type, "google.rpc.BadRequest"):
				e.FieldViolations = append(e.FieldViolations, d.FieldViolations...)
			}
		}
	}
	if e.Reason == "" {
		e.Reason = strings.ToUpper(strings.ReplaceAll(http.StatusText(res.StatusCode), " ", "_"))
		if e.Reason == "" {
			e.Reason = fmt.Sprintf("HTTP_%d", res.StatusCode)
		}
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d %s", res.StatusCode, strings.TrimSpace(firstLine(body)))
		e.Message = strings.TrimSpace(e.Message)
	}
	return e
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
