// Package seal encrypts small secrets at rest (webhook secrets) with
// AES-256-GCM under a key read from a file (--secrets-key-file). Each
// sealed value carries its own random nonce and is bound to a context
// string (the resource it belongs to), so a ciphertext copied onto another
// resource does not open.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyBytes is the AES-256 key length.
const KeyBytes = 32

// Sealer seals and opens values under one key.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeyBytes {
		return nil, fmt.Errorf("seal: the key must be %d bytes, not %d", KeyBytes, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadKeyFile reads a key file: the base64 (standard) of 32 random bytes,
// surrounding white space ignored.
func LoadKeyFile(path string) (*Sealer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, errors.New("secrets key file: not base64")
	}
	return New(key)
}

// WriteKeyFile writes a new random key to path (mode 0600) and returns its
// Sealer; an existing file is kept and loaded.
func WriteKeyFile(path string) (*Sealer, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadKeyFile(path)
	}
	key := make([]byte, KeyBytes)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("secrets key file: %w", err)
	}
	return New(key)
}

// Seal encrypts plaintext bound to context; the result is base64 text.
func (s *Sealer) Seal(context, plaintext string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return base64.StdEncoding.EncodeToString(out)
}

// ErrOpen is returned for a value that was not sealed under this key and
// context, or was changed.
var ErrOpen = errors.New("seal: cannot open the value (wrong key or context, or tampered)")

// Open decrypts a value sealed with the same key and context.
func (s *Sealer) Open(context, sealed string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n {
		return "", ErrOpen
	}
	out, err := s.aead.Open(nil, b[:n], b[n:], []byte(context))
	if err != nil {
		return "", ErrOpen
	}
	return string(out), nil
}
