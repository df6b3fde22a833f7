package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Webhook deliveries (docs/ARCHITECTURE.md, "Webhook deliveries"):
//
//	{ga}:delivery:<formation>:<system>         JSON of the pending formations.Delivery
//	{ga}:delivery:<formation>:<system>:urgent  "1" while the pending one is urgent
//	deliveries:due                             sorted set of "<ga>/<formation>/<system>" by turn (unix ms; urgent ones UrgentLead early)
//	deliveries:claimed                         sorted set of the same members, claimed by a worker, by lease end (unix ms)
//	{ga}:system:<sys>:webhook-disabled         "1" once the webhook answered 410
//	{ga}:callback:<webhook-id>                 a status callback's id, kept 11 min (replays)
//
// The schedule is one key for every global account, like the outbox: one
// Redis primary holds it (see the README on Redis Cluster). A member is in
// deliveries:due while a notification waits for its turn and in
// deliveries:claimed while one is out; it can be in both (a newer
// notification waits for the answer to the one out), and is claimed again
// only once the first claim is released or has run out.

func (s *Store) deliveryKey(r formations.DeliveryRef) string {
	return s.Keys.Account(r.GlobalAccount).Key("delivery", r.FormationID, r.SystemID)
}

func (s *Store) urgentKey(r formations.DeliveryRef) string {
	return s.Keys.Account(r.GlobalAccount).Key("delivery", r.FormationID, r.SystemID, "urgent")
}

func (s *Store) dueKey() string     { return s.Keys.Key("deliveries:due") }
func (s *Store) claimedKey() string { return s.Keys.Key("deliveries:claimed") }

func dueMember(r formations.DeliveryRef) string {
	return r.GlobalAccount + "/" + r.FormationID + "/" + r.SystemID
}

func (s *Store) disabledKey(ga, sys string) string {
	return s.Keys.Account(ga).Key("system", sys, "webhook-disabled")
}

// causes returns, per delivery of a step, the id of the event that made
// it: the event about the notified system's assignment, else the step's
// first event ("" for a step without events).
func causes(st formations.Step, msgs []cloudevent.Message) []string {
	out := make([]string, len(st.Deliveries))
	for i, p := range st.Deliveries {
		for j, ev := range st.Events {
			switch ev.Kind {
			case formations.AssignmentCreated, formations.AssignmentDeleted, formations.AssignmentStateChanged:
				if ev.Assignment.SystemID == p.Ref.SystemID && ev.Formation != nil && ev.Formation.ID == p.Ref.FormationID {
					out[i] = msgs[j].ID
				}
			}
			if out[i] != "" {
				break
			}
		}
		if out[i] == "" && len(msgs) > 0 {
			out[i] = msgs[0].ID
		}
	}
	return out
}

// putDeliveries adds a step's deliveries to its transaction; a new
// delivery records its cause and the trace context of the step, unless
// it carries them already (a retry keeps those of the first attempt).
func (s *Store) putDeliveries(tx *outbox.Tx, kinds map[string]error, st formations.Step, causes []string, traceparent string) error {
	for i, p := range st.Deliveries {
		k := s.deliveryKey(p.Ref)
		if p.Expect != "" {
			tx.ExpectEqual(k, p.Expect)
			kinds[k] = formations.ErrConflict
		}
		if p.Next == nil {
			tx.Del(k, s.urgentKey(p.Ref))
			tx.ZRem(s.dueKey(), dueMember(p.Ref))
			tx.ZRem(s.claimedKey(), dueMember(p.Ref))
			continue
		}
		d := *p.Next
		if d.Cause == "" {
			d.Cause = causes[i]
		}
		if d.Traceparent == "" {
			d.Traceparent = traceparent
		}
		b, err := json.Marshal(&d)
		if err != nil {
			return apperr.Internalf("encode delivery: %w", err)
		}
		tx.Set(k, string(b), 0)
		turn := p.Next.Due
		if p.Urgent {
			tx.Set(s.urgentKey(p.Ref), "1", 0)
			turn = turn.Add(-formations.UrgentLead)
		}
		if p.KeepPlace {
			tx.ZAddLT(s.dueKey(), float64(turn.UnixMilli()), dueMember(p.Ref))
		} else {
			tx.ZAdd(s.dueKey(), float64(turn.UnixMilli()), dueMember(p.Ref))
		}
	}
	for _, r := range st.Released {
		tx.ZRem(s.claimedKey(), dueMember(r))
	}
	for _, sys := range st.DisableWebhooks {
		tx.Set(s.disabledKey(st.GlobalAccount, sys), "1", 0)
	}
	for _, sys := range st.EnableWebhooks {
		tx.Del(s.disabledKey(st.GlobalAccount, sys))
	}
	return nil
}

// Pending implements formations.Repository: one round trip.
func (s *Store) Pending(ctx context.Context, r formations.DeliveryRef) (*formations.Delivery, *formations.Formation, error) {
	var dc *redis.StringCmd
	var rc *redis.MapStringStringCmd
	_, err := s.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		dc = p.Get(ctx, s.deliveryKey(r))
		rc = outbox.ReadWholeRecord(ctx, p, s.recordKey(r.GlobalAccount, r.FormationID))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, redisconn.Classify(err)
	}
	d, err := parseDelivery(dc.Val(), dc.Err())
	if err != nil {
		return nil, nil, err
	}
	rev, data, err := outbox.WholeRecord(rc)
	if err != nil || rev == 0 {
		return d, nil, err
	}
	f, err := decode(rev, data)
	return d, f, err
}

func parseDelivery(v string, err error) (*formations.Delivery, error) {
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, redisconn.Classify(err)
	}
	var d formations.Delivery
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		return nil, apperr.Internalf("decode delivery: %w", err)
	}
	d.Version = v
	return &d, nil
}

// claimScript claims due members in one step: first the claims whose
// lease ran out go back in line (their worker died), then the members
// first in line that nobody holds move to the claimed set until the
// lease's end. A member held by another claim stays in line (a newer
// notification waiting for the answer to the one out); since at most
// ZCARD(claimed) are held, that many more are read. KEYS: due, claimed.
// ARGV: now (ms), lease end (ms), count.
var claimScript = redis.NewScript(`
local now, leaseEnd, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local lost = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", now, "LIMIT", 0, max)
for _, m in ipairs(lost) do
  redis.call("ZREM", KEYS[2], m)
  redis.call("ZADD", KEYS[1], "LT", now, m)
end
local held = redis.call("ZCARD", KEYS[2])
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, max + held)
local out = {}
for _, m in ipairs(due) do
  if #out >= max then break end
  if not redis.call("ZSCORE", KEYS[2], m) then
    redis.call("ZREM", KEYS[1], m)
    redis.call("ZADD", KEYS[2], leaseEnd, m)
    out[#out + 1] = m
  end
end
return out
`)

// ClaimDue implements formations.Repository: the claim script, then one
// pipelined read of the claimed deliveries, their urgency, their systems'
// 410 marks and their formations.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, max int) ([]formations.Claim, error) {
	res, err := claimScript.Run(ctx, s.Redis, []string{s.dueKey(), s.claimedKey()},
		now.UnixMilli(), now.Add(lease).UnixMilli(), max).StringSlice()
	if err != nil {
		return nil, redisconn.Classify(err)
	}
	out := make([]formations.Claim, 0, len(res))
	for _, m := range res {
		p := strings.SplitN(m, "/", 3)
		if len(p) != 3 {
			s.Redis.ZRem(ctx, s.claimedKey(), m)
			continue
		}
		out = append(out, formations.Claim{Ref: formations.DeliveryRef{GlobalAccount: p[0], FormationID: p[1], SystemID: p[2]}})
	}
	if len(out) == 0 {
		return out, nil
	}
	type reads struct {
		d, urgent *redis.StringCmd
		off       *redis.IntCmd
		f         *redis.MapStringStringCmd
	}
	rs := make([]reads, len(out))
	_, err = s.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range out {
			rs[i] = reads{
				d:      p.Get(ctx, s.deliveryKey(c.Ref)),
				urgent: p.Get(ctx, s.urgentKey(c.Ref)),
				off:    p.Exists(ctx, s.disabledKey(c.Ref.GlobalAccount, c.Ref.SystemID)),
				f:      outbox.ReadWholeRecord(ctx, p, s.recordKey(c.Ref.GlobalAccount, c.Ref.FormationID)),
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		// Claimed but unread: tried again after the lease.
		return nil, redisconn.Classify(err)
	}
	for i := range out {
		d, err := parseDelivery(rs[i].d.Val(), rs[i].d.Err())
		if err != nil {
			return nil, err
		}
		if d != nil {
			d.Urgent = rs[i].urgent.Val() != ""
		}
		out[i].Delivery = d
		out[i].WebhookDisabled = rs[i].off.Val() > 0
		rev, data, err := outbox.WholeRecord(rs[i].f)
		if err != nil {
			return nil, err
		}
		if rev > 0 {
			if out[i].Formation, err = decode(rev, data); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Reschedule implements formations.Repository.
func (s *Store) Reschedule(ctx context.Context, r formations.DeliveryRef, at time.Time) error {
	_, err := s.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.claimedKey(), dueMember(r))
		p.ZAddLT(ctx, s.dueKey(), redis.Z{Score: float64(at.UnixMilli()), Member: dueMember(r)})
		return nil
	})
	return redisconn.Classify(err)
}

// Release implements formations.Repository.
func (s *Store) Release(ctx context.Context, r formations.DeliveryRef) error {
	return redisconn.Classify(s.Redis.ZRem(ctx, s.claimedKey(), dueMember(r)).Err())
}

// Scheduled counts the deliveries in line or out (tests, metrics); one
// with a newer one waiting counts twice.
func (s *Store) Scheduled(ctx context.Context) (int64, error) {
	var due, claimed *redis.IntCmd
	_, err := s.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		due = p.ZCard(ctx, s.dueKey())
		claimed = p.ZCard(ctx, s.claimedKey())
		return nil
	})
	if err != nil {
		return 0, redisconn.Classify(err)
	}
	return due.Val() + claimed.Val(), nil
}

// FirstCallback implements formations.Repository.
func (s *Store) FirstCallback(ctx context.Context, ga, id string, ttl time.Duration) (bool, error) {
	ok, err := s.Redis.SetNX(ctx, s.Keys.Account(ga).Key("callback", strconv.Quote(id)), "1", ttl).Result()
	return ok, redisconn.Classify(err)
}
