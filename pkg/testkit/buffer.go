package testkit

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for writers and readers in several
// goroutines at once: a log sink or a command's output that a test reads
// while the writer runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
