package restclient

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStreamParsesMessages(t *testing.T) {
	t.Parallel()
	body := ": keep-alive\r\n\r\nid: 1\r\nevent: a\r\ndata: {\"x\":1}\r\n\r\n" +
		"id: 2\nevent: b\ndata: line one\ndata: line two\n\n" +
		": keep-alive\n\n" +
		"data: no id\n\n"
	s := &Stream{body: io.NopCloser(strings.NewReader(body)), base: "http://x"}
	s.rd = newReader(s.body)
	want := []Event{{ID: "1", Type: "a", Data: `{"x":1}`}, {ID: "2", Type: "b", Data: "line one\nline two"}, {Data: "no id"}}
	for i, w := range want {
		got, err := s.Next()
		if err != nil || got != w {
			t.Fatalf("event %d = %+v, %v; want %+v", i, got, err, w)
		}
	}
	if _, err := s.Next(); !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("after the last event: %v, want ErrStreamEnded", err)
	}
	// A stream cut in the middle of a message is a broken connection.
	s = &Stream{body: io.NopCloser(strings.NewReader("id: 3\ndata: {")), base: "http://x"}
	s.rd = newReader(s.body)
	var ue *UnreachableError
	if _, err := s.Next(); !errors.As(err, &ue) {
		t.Fatalf("cut stream: %v, want an UnreachableError", err)
	}
}

func TestErrorsDecoded(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/api":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"code":3,"message":"invalid displayName","details":[`+
				`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_ARGUMENT","domain":"landscape","metadata":{"field":"displayName"}},`+
				`{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"displayName","description":"is required"}]}]}`)
		default:
			http.Error(w, "<html>no</html>", http.StatusBadGateway)
		}
	}))
	defer hs.Close()
	c, err := New(hs.URL+"/", "jwt", "test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(t.Context(), "GET", "/v1/api", nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 400 || ae.Reason != "INVALID_ARGUMENT" || ae.Message != "invalid displayName" ||
		len(ae.FieldViolations) != 1 || ae.FieldViolations[0].Field != "displayName" || ae.Metadata["field"] != "displayName" {
		t.Fatalf("API error = %#v", err)
	}
	_, err = c.Do(t.Context(), "GET", "/other", nil, nil)
	if !errors.As(err, &ae) || ae.Reason != "BAD_GATEWAY" || !strings.Contains(ae.Message, "502") {
		t.Fatalf("non-API error = %#v", err)
	}
	if _, err := New("ftp://x", "", ""); err == nil {
		t.Error("New accepted ftp://")
	}
}

// TestWithJWTAndConnections: WithJWT changes the bearer of the copy only;
// WithConnections gives the copy a pool of its own.
func TestWithJWTAndConnections(t *testing.T) {
	t.Parallel()
	var auth []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, "{}")
	}))
	defer ts.Close()
	c, err := New(ts.URL, "a", "test")
	if err != nil {
		t.Fatal(err)
	}
	pooled := c.WithConnections(64)
	for _, cl := range []*Client{c.WithJWT("b"), c.WithJWT(""), pooled, c} {
		var out struct{}
		if err := cl.Call(t.Context(), "GET", "/x", nil, nil, &out); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"Bearer b", "", "Bearer a", "Bearer a"}; strings.Join(auth, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization headers %q, want %q", auth, want)
	}
	tr := pooled.http.Transport.(*http.Transport)
	if tr == c.http.Transport || tr.MaxIdleConnsPerHost != 64 || pooled.stream.Transport != tr {
		t.Errorf("WithConnections(64): shared transport or %d idle connections per host", tr.MaxIdleConnsPerHost)
	}
	pooled.CloseIdleConnections()
}
