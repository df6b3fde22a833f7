package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level   string
		want    []string // messages written, of debug, info, warn, error
		wantErr bool
	}{
		{level: "debug", want: []string{"d", "i", "w", "e"}},
		{level: "info", want: []string{"i", "w", "e"}},
		{level: "INFO", want: []string{"i", "w", "e"}},
		{level: "warn", want: []string{"w", "e"}},
		{level: "error", want: []string{"e"}},
		{level: "", wantErr: true},
		{level: "verbose", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := New(&buf, tt.level)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			l.DebugContext(ctx, "d")
			l.InfoContext(ctx, "i", "k", 1)
			l.WarnContext(ctx, "w")
			l.ErrorContext(ctx, "e")
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				got = append(got, m["msg"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("logged %v, want %v", got, tt.want)
			}
		})
	}
}
