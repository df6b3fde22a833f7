package restclient

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Event is one Server-Sent Events message: its id (the resume cursor),
// event name and data (for events:watch, the CloudEvent as one JSON line).
type Event struct {
	ID, Type, Data string
}

// Stream reads the messages of one SSE response.
type Stream struct {
	body io.ReadCloser
	rd   *bufio.Reader
	base string
}

// maxSSELine bounds one line of the stream (one event's JSON).
const maxSSELine = 4 << 20

// Watch opens the SSE stream at path with query, resuming after
// lastEventID when it is not empty (the Last-Event-ID header). A refusal
// is an *APIError, no answer an *UnreachableError.
func (c *Client) Watch(ctx context.Context, path string, query url.Values, lastEventID string) (*Stream, error) {
	req, err := c.request(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := c.stream.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if res.StatusCode/100 != 2 {
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
		return nil, decodeError(res, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		res.Body.Close()
		return nil, &APIError{HTTPStatus: res.StatusCode, Reason: "NOT_AN_EVENT_STREAM", Message: "the server answered " + ct + ", not text/event-stream"}
	}
	return &Stream{body: res.Body, rd: newReader(res.Body), base: c.base.String()}, nil
}

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }

// ErrStreamEnded is returned by Next when the server closed the stream
// cleanly between two messages.
var ErrStreamEnded = errors.New("the server ended the stream")

// Next returns the next message. Comments (": keep-alive") are skipped. A
// connection that breaks is an *UnreachableError, a clean end ErrStreamEnded.
func (s *Stream) Next() (Event, error) {
	var ev Event
	var data []string
	seen := false
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && !seen {
				return Event{}, ErrStreamEnded
			}
			return Event{}, &UnreachableError{URL: s.base, Err: err}
		}
		if line == "" { // end of a message
			if seen && (len(data) > 0 || ev.ID != "") {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			ev, data, seen = Event{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		}
	}
}

// readLine reads one line without its end (LF, CRLF or CR-less LF only).
func (s *Stream) readLine() (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := s.rd.ReadLine()
		if err != nil {
			return "", err
		}
		b.Write(chunk)
		if b.Len() > maxSSELine {
			return "", errors.New("an event line is longer than 4 MiB")
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }
