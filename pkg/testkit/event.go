package testkit

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

// RevisionEvent is a test event of spec for revision rev of a system
// named resource in the global account "ga": its payload is a Struct with
// "revision" (a string, as protojson writes int64) and "name".
func RevisionEvent(t testing.TB, spec cloudevent.Spec, resource string, rev int64) cloudevent.Message {
	t.Helper()
	payload, err := structpb.NewStruct(map[string]any{"revision": strconv.FormatInt(rev, 10), "name": resource})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cloudevent.New(spec, "ga", "globalAccounts/ga/systems/"+resource, payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
