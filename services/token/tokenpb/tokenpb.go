// Package tokenpb converts tokens between the domain (package tokens) and
// their proto message landscape.token.v1.Token, the one encoding used on
// the wire, at rest (the record's data) and in events.
package tokenpb

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/pbenum"
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
		State:         states.Proto(t.State),
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
		State:         states.Domain(p.GetState()),
		CreateTime:    pbtime.Time(p.GetCreateTime()),
		ExpireTime:    pbtime.Time(p.GetExpireTime()),
		EndTime:       pbtime.Time(p.GetEndTime()),
		Revision:      rev,
	}
}

// Marshal encodes p, the ToProto form of a token, as the binary proto
// message of its record; a writer converts a token once and uses p for
// its event too. The record leaves out the subject and the global
// account, which the token's name holds (Unmarshal puts them back): about
// 60 bytes less per token in Redis.
func Marshal(p *tokenv1.Token) ([]byte, error) {
	sub, ga := p.Subject, p.GlobalAccount
	p.Subject, p.GlobalAccount = "", ""
	b, err := proto.Marshal(p)
	p.Subject, p.GlobalAccount = sub, ga
	if err != nil {
		return nil, fmt.Errorf("tokenpb: marshal %s: %w", p.GetName(), err)
	}
	return b, nil
}

// Unmarshal decodes a record written by Marshal, or by earlier versions
// that stored the subject and the global account too.
func Unmarshal(data []byte, rev int64) (tokens.Token, error) {
	var p tokenv1.Token
	if err := proto.Unmarshal(data, &p); err != nil {
		return tokens.Token{}, fmt.Errorf("tokenpb: unmarshal: %w", err)
	}
	if p.Subject == "" {
		sub, _, ok := strings.Cut(p.Name, "/integrationTokens/")
		if !ok {
			return tokens.Token{}, fmt.Errorf("tokenpb: unmarshal: token name %q has no subject", p.Name)
		}
		s, err := tokens.ParseSubject("subject", sub)
		if err != nil {
			return tokens.Token{}, fmt.Errorf("tokenpb: unmarshal: token name %q: %w", p.Name, err)
		}
		p.Subject, p.GlobalAccount = s.Name, s.GlobalAccount
	}
	return FromProto(&p, rev), nil
}

// states is the table of token states, read both ways.
var states = pbenum.New(map[tokens.State]tokenv1.Token_State{
	tokens.StateUnused:   tokenv1.Token_UNUSED,
	tokens.StateConsumed: tokenv1.Token_CONSUMED,
	tokens.StateRevoked:  tokenv1.Token_REVOKED,
})
