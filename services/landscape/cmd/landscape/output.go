package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// colourOn reports whether output may be coloured: stdout is a terminal
// and NO_COLOR (https://no-color.org) is unset or empty, and TERM is not "dumb".
func colourOn(e env) bool {
	if v, ok := e.getenv("NO_COLOR"); ok && v != "" {
		return false
	}
	if v, _ := e.getenv("TERM"); v == "dumb" {
		return false
	}
	f, ok := e.stdout.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ANSI colours of states.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// stateColour is the colour of a system, formation or assignment state.
func stateColour(state string) string {
	switch state {
	case "REGISTERED", "READY":
		return ansiGreen
	case "PENDING", "SYNCHRONIZING":
		return ansiYellow
	case "ERROR":
		return ansiRed
	}
	return ""
}

// cell is one table cell; colour applies on a terminal only.
type cell struct {
	text, colour string
}

func plain(s string) cell { return cell{text: s} }

func state(s string) cell { return cell{text: s, colour: stateColour(s)} }

// table is aligned columns with a header, padded by the width of the text
// (escape codes are added after padding, so colour never breaks alignment).
type table struct {
	head []string
	rows [][]cell
}

func (t *table) add(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer, colour bool) error {
	widths := make([]int, len(t.head))
	for i, h := range t.head {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	line := func(cells []cell, bold bool) {
		var l strings.Builder
		for i, c := range cells {
			pad := ""
			if i < len(cells)-1 {
				pad = strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2)
			}
			code := c.colour
			if bold {
				code = ansiBold
			}
			if colour && code != "" {
				l.WriteString(code + c.text + ansiReset + pad)
			} else {
				l.WriteString(c.text + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	head := make([]cell, len(t.head))
	for i, h := range t.head {
		head[i] = plain(h)
	}
	line(head, true)
	for _, r := range t.rows {
		line(r, false)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fields are "Label: value" lines of one resource, aligned.
type fields struct {
	rows []struct {
		label string
		value cell
	}
}

func (f *fields) add(label string, value cell) {
	f.rows = append(f.rows, struct {
		label string
		value cell
	}{label, value})
}

func (f *fields) print(w io.Writer, colour bool) error {
	width := 0
	for _, r := range f.rows {
		width = max(width, utf8.RuneCountInString(r.label))
	}
	var b strings.Builder
	for _, r := range f.rows {
		v := r.value.text
		if colour && r.value.colour != "" {
			v = r.value.colour + v + ansiReset
		}
		fmt.Fprintf(&b, "%-*s  %s\n", width+1, r.label+":", v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// indentJSON writes raw indented by two spaces.
func indentJSON(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// shortTime shows an RFC 3339 time to the second, in UTC; "" stays "".
func shortTime(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// orDash shows an empty value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
