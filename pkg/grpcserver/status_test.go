package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// TestReasonTable pins every reason of docs/API.md, "Reasons" to its gRPC code and HTTP
// status; for reasons that travel over gRPC the HTTP status is the one the
// gateway derives from the code.
func TestReasonTable(t *testing.T) {
	t.Parallel()
	want := map[apperr.Reason]struct {
		code codes.Code
		http int
	}{
		apperr.InvalidArgument:            {codes.InvalidArgument, 400},
		apperr.SystemTypeUnknown:          {codes.InvalidArgument, 400},
		apperr.FormationTypeUnknown:       {codes.InvalidArgument, 400},
		apperr.SystemNotFound:             {codes.NotFound, 404},
		apperr.FormationNotFound:          {codes.NotFound, 404},
		apperr.SystemNotAssigned:          {codes.NotFound, 404},
		apperr.SystemNameTaken:            {codes.AlreadyExists, 409},
		apperr.FormationNameTaken:         {codes.AlreadyExists, 409},
		apperr.SystemIDTaken:              {codes.AlreadyExists, 409},
		apperr.FormationIDTaken:           {codes.AlreadyExists, 409},
		apperr.SystemAlreadyAssigned:      {codes.AlreadyExists, 409},
		apperr.SystemAlreadyRegistered:    {codes.FailedPrecondition, 400},
		apperr.SystemInFormation:          {codes.FailedPrecondition, 400},
		apperr.SystemTypeMismatch:         {codes.FailedPrecondition, 400},
		apperr.SystemNotPaired:            {codes.FailedPrecondition, 400},
		apperr.SystemInError:              {codes.FailedPrecondition, 400},
		apperr.EnvironmentNotSupported:    {codes.FailedPrecondition, 400},
		apperr.SystemInExclusiveFormation: {codes.FailedPrecondition, 400},
		apperr.TokenInvalid:               {codes.Unauthenticated, 401},
		apperr.TokenExpired:               {codes.Unauthenticated, 401},
		apperr.TokenAlreadyUsed:           {codes.Unauthenticated, 401},
		apperr.TokenRevoked:               {codes.Unauthenticated, 401},
		apperr.TokenQuotaExceeded:         {codes.ResourceExhausted, 429},
		apperr.QuotaExceeded:              {codes.ResourceExhausted, 429},
		apperr.RateLimited:                {codes.ResourceExhausted, 429},
		apperr.CursorExpired:              {codes.OutOfRange, 410},
		apperr.EtagMismatch:               {codes.Aborted, 409},
		apperr.Unauthenticated:            {codes.Unauthenticated, 401},
		apperr.PermissionDenied:           {codes.PermissionDenied, 403},
		apperr.Unavailable:                {codes.Unavailable, 503},
		apperr.Internal:                   {codes.Internal, 500},
		apperr.MalformedRequest:           {codes.InvalidArgument, 400},
		apperr.RequestTooLarge:            {codes.ResourceExhausted, 413},
		apperr.RouteNotFound:              {codes.NotFound, 404},
	}
	if len(want) != len(apperr.Reasons) {
		t.Fatalf("test table has %d reasons, apperr.Reasons %d", len(want), len(apperr.Reasons))
	}
	for _, r := range apperr.Reasons {
		t.Run(string(r), func(t *testing.T) {
			t.Parallel()
			w, ok := want[r]
			if !ok {
				t.Fatalf("reason %s missing from the test table", r)
			}
			if got := Code(r); got != w.code {
				t.Errorf("Code = %v, want %v", got, w.code)
			}
			if got := HTTPStatus(r); got != w.http {
				t.Errorf("HTTPStatus = %d, want %d", got, w.http)
			}
			if !GatewayOnly(r) {
				if got := runtime.HTTPStatusFromCode(w.code); got != w.http {
					t.Errorf("gateway maps %v to %d, docs/API.md (Reasons) says %d", w.code, got, w.http)
				}
				st := Status(apperr.New(r, "m"))
				if st.Code() != w.code || reasonOf(st) != string(r) {
					t.Errorf("Status = %v %q, want %v %s", st.Code(), reasonOf(st), w.code, r)
				}
			}
		})
	}
	if Code("NO_SUCH_REASON") != codes.Internal || HTTPStatus("NO_SUCH_REASON") != http.StatusInternalServerError {
		t.Error("an unknown reason must be INTERNAL / 500")
	}
}

func badRequest(st *status.Status) *errdetails.BadRequest {
	for _, d := range st.Details() {
		if b, ok := d.(*errdetails.BadRequest); ok {
			return b
		}
	}
	return nil
}

func TestStatus(t *testing.T) {
	t.Parallel()
	peerWithInfo := build(codes.NotFound, "system x not found", apperr.SystemNotFound, map[string]string{"system": "x"}, nil)
	secret := "redis: dial 10.1.2.3:6379 password=hunter2"
	tests := []struct {
		name       string
		err        error
		code       codes.Code
		msg        string // exact, when set
		reason     apperr.Reason
		md         map[string]string
		violations []string // "field: description"
		same       *status.Status
	}{
		{name: "apperr", err: apperr.New(apperr.SystemNotFound, "system not found", "system", "globalAccounts/a/systems/b"),
			code: codes.NotFound, msg: "system not found", reason: apperr.SystemNotFound, md: map[string]string{"system": "globalAccounts/a/systems/b"}},
		{name: "wrapped apperr", err: fmt.Errorf("get: %w", apperr.New(apperr.EtagMismatch, "etag")),
			code: codes.Aborted, msg: "etag", reason: apperr.EtagMismatch},
		{name: "token quota", err: apperr.New(apperr.TokenQuotaExceeded, "too many"), code: codes.ResourceExhausted, reason: apperr.TokenQuotaExceeded},
		{name: "token expired", err: apperr.New(apperr.TokenExpired, "expired"), code: codes.Unauthenticated, reason: apperr.TokenExpired},
		{name: "already registered", err: apperr.New(apperr.SystemAlreadyRegistered, "registered"), code: codes.FailedPrecondition, reason: apperr.SystemAlreadyRegistered},
		{name: "violations", err: func() error {
			var v apperr.Violations
			v.Add("system.displayName", "must not be empty")
			v.Add("system.systemType", "unknown")
			return v.Err()
		}(), code: codes.InvalidArgument, reason: apperr.InvalidArgument,
			violations: []string{"system.displayName: must not be empty", "system.systemType: unknown"}},
		{name: "invalid", err: apperr.Invalid("pageSize", "must be at most 100"), code: codes.InvalidArgument, reason: apperr.InvalidArgument,
			violations: []string{"pageSize: must be at most 100"}},
		{name: "unavailable with cause", err: apperr.UnavailableErr("redis", errors.New(secret)),
			code: codes.Unavailable, msg: "redis is unavailable; retry with backoff", reason: apperr.Unavailable, md: map[string]string{"dependency": "redis"}},
		{name: "internalf masked", err: apperr.Internalf("decode %s", secret), code: codes.Internal, msg: "internal error", reason: apperr.Internal},
		{name: "internal with cause masked", err: apperr.New(apperr.Internal, secret).WithCause(errors.New(secret)), code: codes.Internal, msg: "internal error", reason: apperr.Internal},
		{name: "unknown reason masked", err: apperr.New("NO_SUCH_REASON", secret), code: codes.Internal, msg: "internal error", reason: apperr.Internal},
		{name: "plain error masked", err: errors.New(secret), code: codes.Internal, msg: "internal error", reason: apperr.Internal},
		{name: "deadline", err: fmt.Errorf("read: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded, reason: apperr.Unavailable},
		{name: "canceled", err: context.Canceled, code: codes.Canceled, reason: apperr.Unavailable},
		{name: "canceled as cause of internal", err: apperr.Internalf("load: %w", context.Canceled), code: codes.Canceled, reason: apperr.Unavailable},
		{name: "peer status with ErrorInfo passes", err: peerWithInfo.Err(), same: peerWithInfo},
		{name: "wrapped peer status passes", err: fmt.Errorf("get system: %w", peerWithInfo.Err()), same: peerWithInfo},
		{name: "bare peer unavailable", err: status.Error(codes.Unavailable, "connection error: dial tcp 10.0.0.3:9090"),
			code: codes.Unavailable, msg: transportMessages[codes.Unavailable], reason: apperr.Unavailable},
		{name: "bare peer deadline", err: status.Error(codes.DeadlineExceeded, "context deadline exceeded"),
			code: codes.DeadlineExceeded, msg: transportMessages[codes.DeadlineExceeded], reason: apperr.Unavailable},
		{name: "bare peer internal masked", err: status.Error(codes.Internal, secret), code: codes.Internal, msg: "internal error", reason: apperr.Internal},
		{name: "bare peer unauthenticated is ours: internal", err: status.Error(codes.Unauthenticated, "bad service credential"),
			code: codes.Internal, msg: "internal error", reason: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := Status(tt.err)
			if tt.same != nil {
				if !proto.Equal(st.Proto(), tt.same.Proto()) {
					t.Fatalf("Status = %v, want unchanged %v", st.Proto(), tt.same.Proto())
				}
				return
			}
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v", st.Code(), tt.code)
			}
			if tt.msg != "" && st.Message() != tt.msg {
				t.Errorf("message = %q, want %q", st.Message(), tt.msg)
			}
			if strings.Contains(st.Message(), "hunter2") || strings.Contains(st.Message(), "10.") {
				t.Errorf("message leaks internals: %q", st.Message())
			}
			info := ErrorInfo(st)
			if info == nil {
				t.Fatal("no ErrorInfo")
			}
			if info.GetDomain() != "landscape" || info.GetReason() != string(tt.reason) {
				t.Errorf("ErrorInfo = %s/%s, want landscape/%s", info.GetDomain(), info.GetReason(), tt.reason)
			}
			if len(info.GetMetadata()) != len(tt.md) {
				t.Errorf("metadata = %v, want %v", info.GetMetadata(), tt.md)
			}
			for k, v := range tt.md {
				if info.GetMetadata()[k] != v {
					t.Errorf("metadata[%s] = %q, want %q", k, info.GetMetadata()[k], v)
				}
			}
			br := badRequest(st)
			var got []string
			for _, fv := range br.GetFieldViolations() {
				got = append(got, fv.GetField()+": "+fv.GetDescription())
			}
			if strings.Join(got, "|") != strings.Join(tt.violations, "|") {
				t.Errorf("violations = %q, want %q", got, tt.violations)
			}
			if (br != nil) != (len(tt.violations) > 0) {
				t.Errorf("BadRequest present = %v, want %v", br != nil, len(tt.violations) > 0)
			}
			// Status is idempotent: mapping the mapped error changes nothing.
			if again := Status(st.Err()); !proto.Equal(again.Proto(), st.Proto()) {
				t.Errorf("Status(Status(err).Err()) = %v, want %v", again.Proto(), st.Proto())
			}
		})
	}
	if Status(nil).Code() != codes.OK {
		t.Error("Status(nil) must be OK")
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	for c, want := range map[codes.Code]string{
		codes.OK: "INFO", codes.NotFound: "WARN", codes.InvalidArgument: "WARN", codes.Unauthenticated: "WARN",
		codes.ResourceExhausted: "WARN", codes.Canceled: "WARN", codes.Internal: "ERROR", codes.Unavailable: "ERROR",
		codes.DeadlineExceeded: "ERROR", codes.Unknown: "ERROR",
	} {
		if got := Level(c).String(); got != want {
			t.Errorf("Level(%v) = %s, want %s", c, got, want)
		}
	}
}

// TestTransportStatus pins the one mapping of a bare transport failure,
// which the services (a peer's status) and the gateway (a service it could
// not reach) share: the code is kept, the reason is UNAVAILABLE.
func TestTransportStatus(t *testing.T) {
	t.Parallel()
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.Canceled} {
		st, ok := TransportStatus(code)
		if !ok || st.Code() != code || reasonOf(st) != string(apperr.Unavailable) || st.Message() == "" {
			t.Errorf("TransportStatus(%v) = %v, %v; want code kept, reason UNAVAILABLE", code, st, ok)
		}
		// A peer's bare status maps the same way, its text replaced.
		if got := Status(status.Error(code, "dial tcp 10.0.0.7:9090: refused")); got.Message() != st.Message() || got.Code() != code {
			t.Errorf("Status(bare %v) = %v, want %v", code, got, st)
		}
	}
	for _, code := range []codes.Code{codes.NotFound, codes.Internal, codes.InvalidArgument, codes.Unimplemented} {
		if _, ok := TransportStatus(code); ok {
			t.Errorf("TransportStatus(%v) is ok; only transport failures are", code)
		}
	}
}
