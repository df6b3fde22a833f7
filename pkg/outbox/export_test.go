package outbox

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/landscape-dev/landscape/pkg/eventctx"
)

// CrashAfterPublish makes r's Run return after a round's publish acks and
// before it deletes the entries, as a process killed at that moment would.
func CrashAfterPublish(r *Relay) { r.crashAfterPublish = true }

// SetLease shortens r's lease for tests.
func SetLease(r *Relay, ttl, renewAfter time.Duration) {
	r.leaseTTL, r.renewAfter = ttl, renewAfter
	r.block = min(r.block, renewAfter)
}

// CommitAttrs are the extension attributes a commit under ctx writes,
// found the way Commit finds them.
func (t *Tx) CommitAttrs(ctx context.Context) eventctx.Attrs {
	return t.attrs(ctx, trace.SpanContextFromContext(ctx).IsValid())
}
