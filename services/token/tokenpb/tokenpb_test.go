package tokenpb

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/landscape-dev/landscape/services/token/tokens"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, st := range []tokens.State{tokens.StateUnused, tokens.StateConsumed, tokens.StateRevoked} {
		in := tokens.Token{
			Name: "globalAccounts/a/systems/b/integrationTokens/k", Subject: "globalAccounts/a/systems/b",
			GlobalAccount: "a", SystemType: "sap-s4hana-cloud", State: st,
			CreateTime: now, ExpireTime: now.Add(time.Hour), Revision: 3,
		}
		if st != tokens.StateUnused {
			in.EndTime = now.Add(time.Minute)
		}
		b, err := Marshal(ToProto(in))
		if err != nil {
			t.Fatal(err)
		}
		out, err := Unmarshal(b, 3)
		if err != nil {
			t.Fatal(err)
		}
		if out != in {
			t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
		}
	}
	// A record of earlier versions holds the subject and global account.
	full := ToProto(tokens.Token{Name: "globalAccounts/a/systems/b/integrationTokens/k", Subject: "globalAccounts/a/systems/b", GlobalAccount: "a"})
	old, _ := proto.Marshal(full)
	if out, err := Unmarshal(old, 1); err != nil || out.Subject != full.Subject || out.GlobalAccount != "a" {
		t.Fatalf("earlier record: %+v, %v", out, err)
	}
	if short, _ := Marshal(full); len(short) >= len(old) || full.Subject == "" || full.GlobalAccount == "" {
		t.Fatalf("Marshal: %d bytes (earlier form %d), or it changed its message", len(short), len(old))
	}
	if _, err := Unmarshal([]byte{0xff}, 1); err == nil {
		t.Fatal("garbage decoded")
	}
}
