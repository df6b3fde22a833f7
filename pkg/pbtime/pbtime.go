// Package pbtime converts between time.Time and the protobuf Timestamp of
// the API's resources, records and events. The zero time and an unset
// (nil) Timestamp stand for each other, so an optional time that is not set
// stays unset on the wire and in JSON.
package pbtime

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// Proto converts t; the zero time is nil.
func Proto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Time converts p; nil is the zero time.
func Time(p *timestamppb.Timestamp) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.AsTime()
}
