package resource

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Page sizes of docs/API.md, "Filters and paging".
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// PageSize applies the page-size rules of docs/API.md, "Filters and paging": 0 is
// DefaultPageSize, values above MaxPageSize are MaxPageSize, negative ones
// are INVALID_ARGUMENT on pageSize.
func PageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, apperr.Invalid("pageSize", "must not be negative")
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// memberTimeDigits is the width of the create time in an index member.
const memberTimeDigits = 20

// IndexMember is the member of a resource in the sorted-set indexes of its
// lists: the create time in Unix nanoseconds, zero-padded to 20 digits, a
// slash and the id. Members of equal score compare by bytes, so a ZRANGE
// BYLEX orders by create time, then id (which orders the names within a
// global account), as docs/API.md, "Resources" asks.
func IndexMember(created time.Time, id string) string {
	return fmt.Sprintf("%020d/%s", created.UnixNano(), id)
}

// MemberID returns the id of an index member written by IndexMember.
func MemberID(member string) string {
	if len(member) <= memberTimeDigits {
		return ""
	}
	return member[memberTimeDigits+1:]
}

// PageToken is the opaque page token that continues a list after member:
// the member in unpadded base64url.
func PageToken(member string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(member))
}

// ParsePageToken reads a token written by PageToken and returns its
// member; anything else is INVALID_ARGUMENT on pageToken.
func ParsePageToken(token string) (member string, err error) {
	bad := apperr.Invalid("pageToken", "is not a page token of this list")
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < memberTimeDigits+2 || b[memberTimeDigits] != '/' {
		return "", bad
	}
	m := string(b)
	if _, err := strconv.ParseUint(m[:memberTimeDigits], 10, 64); err != nil || !ValidID(m[memberTimeDigits+1:]) {
		return "", bad
	}
	return m, nil
}
