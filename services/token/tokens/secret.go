package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"io"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// The integration token format of docs/API.md, "Integration tokens":
//
//	lsit_ + 43 random base62 characters + 6 base62 characters of CRC-32
//
// The checksum is the CRC-32 (IEEE) of the ASCII string "lsit_" + the 43
// random characters, written in base62 with the same alphabet, most
// significant digit first, left-padded with '0'. 62^6 > 2^32, so six digits
// hold any CRC-32.
const (
	// SecretPrefix starts every integration token.
	SecretPrefix = "lsit_"
	// RandomLen is the number of random base62 characters (43 × log2(62) ≈ 256 bits).
	RandomLen = 43
	// ChecksumLen is the number of base62 checksum characters.
	ChecksumLen = 6
	// SecretLen is the length of a whole token.
	SecretLen = len(SecretPrefix) + RandomLen + ChecksumLen
)

// base62 is the alphabet of the random part and of the checksum.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewSecret draws a new integration token from r (crypto/rand.Reader in
// production). Every character is uniform over the alphabet: a byte's low
// six bits are used when they are below 62 and the byte is dropped
// otherwise (rejection sampling, no modulo bias).
func NewSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, SecretLen)
	copy(b, SecretPrefix)
	if err := fill(b[len(SecretPrefix):len(SecretPrefix)+RandomLen], r, base62, 62); err != nil {
		return "", err
	}
	writeChecksum(b[len(SecretPrefix)+RandomLen:], b[:len(SecretPrefix)+RandomLen])
	return string(b), nil
}

// fill sets every byte of dst to a uniform character of alphabet[:n],
// n ≤ 64, reading random bytes from r and rejecting values ≥ n.
func fill(dst []byte, r io.Reader, alphabet string, n byte) error {
	var buf [64]byte
	for i := 0; i < len(dst); {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return apperr.Internalf("tokens: read random bytes: %w", err)
		}
		for _, v := range buf {
			v &= 63
			if v >= n {
				continue
			}
			dst[i] = alphabet[v]
			i++
			if i == len(dst) {
				break
			}
		}
	}
	return nil
}

func writeChecksum(dst []byte, body []byte) {
	sum := crc32.ChecksumIEEE(body)
	for i := ChecksumLen - 1; i >= 0; i-- {
		dst[i] = base62[sum%62]
		sum /= 62
	}
}

// CheckSecret checks the format and checksum of a presented token without
// any lookup. Every failure is TOKEN_INVALID, and an empty token is
// INVALID_ARGUMENT (field integrationToken). The error never holds the token.
func CheckSecret(s string) error {
	if s == "" {
		return apperr.Invalid("integrationToken", "an integration token is required")
	}
	if len(s) != SecretLen || s[:len(SecretPrefix)] != SecretPrefix {
		return errTokenInvalid()
	}
	for i := len(SecretPrefix); i < SecretLen; i++ {
		if !isBase62(s[i]) {
			return errTokenInvalid()
		}
	}
	var want [ChecksumLen]byte
	writeChecksum(want[:], []byte(s[:len(SecretPrefix)+RandomLen]))
	if string(want[:]) != s[len(SecretPrefix)+RandomLen:] {
		return errTokenInvalid()
	}
	return nil
}

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// HashSecret returns the lower-case hex SHA-256 of a token: the only form
// in which a token is kept.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func errTokenInvalid() error {
	return apperr.New(apperr.TokenInvalid, "the integration token is not valid")
}
