// Package logging builds the JSON slog logger every Landscape binary uses.
// Messages are static; everything that varies goes into attributes. Never
// log a token, a JWT or a password.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Levels lists the level names New accepts.
var Levels = []string{"debug", "info", "warn", "error"}

// New returns a logger writing one JSON object per line to w, at level
// (debug, info, warn or error; case does not matter).
func New(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown log level %q: want one of %s", level, strings.Join(Levels, ", "))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
