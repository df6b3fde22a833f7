// Package tokenpb converts tokens between the domain (package tokens) and
// their proto message landscape.token.v1.Token, the one encoding used on
// the wire, at rest (the record's data) and in events.
package tokenpb

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/pbtime"
	"github.com/landscape-dev/landscape/services/token/tokens"
)

// ToProto returns the proto form of t (the revision is not part of it).
func ToProto(t tokens.Token) *tokenv1.Token {
	return &tokenv1.Token{
		Name:          t.Name,
		Subject:       t.Subject,
		GlobalAccount: t.GlobalAccount,
		SystemType:    t.SystemType,
		State:         stateToProto(t.State),
		CreateTime:    pbtime.Proto(t.CreateTime),
		ExpireTime:    pbtime.Proto(t.ExpireTime),
		EndTime:       pbtime.Proto(t.EndTime),
	}
}

// FromProto returns the domain form of p at revision rev.
func FromProto(p *tokenv1.Token, rev int64) tokens.Token {
	return tokens.Token{
		Name:          p.GetName(),
		Subject:       p.GetSubject(),
		GlobalAccount: p.GetGlobalAccount(),
		SystemType:    p.GetSystemType(),
		State:         stateFromProto(p.GetState()),
		CreateTime:    pbtime.Time(p.GetCreateTime()),
		ExpireTime:    pbtime.Time(p.GetExpireTime()),
		EndTime:       pbtime.Time(p.GetEndTime()),
		Revision:      rev,
	}
}

// Marshal encodes p, the ToProto form of a token, as its binary proto
// message; a writer converts a token once and uses p for its event too.
func Marshal(p *tokenv1.Token) ([]byte, error) {
	b, err := proto.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("tokenpb: marshal %s: %w", p.GetName(), err)
	}
	return b, nil
}

// Unmarshal decodes a record written by Marshal.
func Unmarshal(data []byte, rev int64) (tokens.Token, error) {
	var p tokenv1.Token
	if err := proto.Unmarshal(data, &p); err != nil {
		return tokens.Token{}, fmt.Errorf("tokenpb: unmarshal: %w", err)
	}
	return FromProto(&p, rev), nil
}

func stateToProto(s tokens.State) tokenv1.Token_State {
	switch s {
	case tokens.StateUnused:
		return tokenv1.Token_UNUSED
	case tokens.StateConsumed:
		return tokenv1.Token_CONSUMED
	case tokens.StateRevoked:
		return tokenv1.Token_REVOKED
	}
	return tokenv1.Token_STATE_UNSPECIFIED
}

func stateFromProto(s tokenv1.Token_State) tokens.State {
	switch s {
	case tokenv1.Token_UNUSED:
		return tokens.StateUnused
	case tokenv1.Token_CONSUMED:
		return tokens.StateConsumed
	case tokenv1.Token_REVOKED:
		return tokens.StateRevoked
	}
	return tokens.StateUnspecified
}
