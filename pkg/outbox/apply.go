package outbox

// AlreadyApplied reports whether err is the conflict of ApplyOnce(key, ...):
// the event was applied before, or a newer one was. A subscriber handler
// treats that as success:
//
//	err := tx.ApplyOnce(seenKey, rev).PutRecord(...).Commit(ctx)
//	if outbox.AlreadyApplied(err, seenKey) {
//		return nil
//	}
//	return err
//
// Keep seenKey out of the step's other expectations so the two cannot be
// confused.
func AlreadyApplied(err error, key string) bool {
	c, ok := IsConflict(err)
	return ok && c.Key == key
}
