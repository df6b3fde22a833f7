package grpcserver

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Domain is the ErrorInfo domain of every Landscape error.
const Domain = "landscape"

// internalMessage is all a caller learns about an internal error.
const internalMessage = "internal error"

// transportMessages are the texts of the transport failures a caller
// sees: a bare status from a peer service (or from grpc-gateway's client)
// names internal addresses, so its text is replaced by one of these.
var transportMessages = map[codes.Code]string{
	codes.Unavailable:      "a Landscape service is unavailable; retry with backoff",
	codes.DeadlineExceeded: "the deadline expired before the call completed; retry with backoff",
	codes.Canceled:         "the call was canceled",
}

// mapping is one row of docs/API.md, "Reasons": the gRPC code of a reason and the HTTP
// status the gateway answers with.
type mapping struct {
	code codes.Code
	http int
}

// reasons is the one table of docs/API.md, "Reasons". For every reason a service returns,
// http equals the gateway's HTTPStatusFromCode(code) (pinned by a test); the
// gateway's own refusals (MALFORMED_REQUEST, REQUEST_TOO_LARGE,
// ROUTE_NOT_FOUND) never travel over gRPC and carry their own HTTP status.
var reasons = map[apperr.Reason]mapping{
	apperr.InvalidArgument:            {codes.InvalidArgument, http.StatusBadRequest},
	apperr.SystemTypeUnknown:          {codes.InvalidArgument, http.StatusBadRequest},
	apperr.FormationTypeUnknown:       {codes.InvalidArgument, http.StatusBadRequest},
	apperr.SystemNotFound:             {codes.NotFound, http.StatusNotFound},
	apperr.FormationNotFound:          {codes.NotFound, http.StatusNotFound},
	apperr.SystemNotAssigned:          {codes.NotFound, http.StatusNotFound},
	apperr.SystemNameTaken:            {codes.AlreadyExists, http.StatusConflict},
	apperr.FormationNameTaken:         {codes.AlreadyExists, http.StatusConflict},
	apperr.SystemIDTaken:              {codes.AlreadyExists, http.StatusConflict},
	apperr.FormationIDTaken:           {codes.AlreadyExists, http.StatusConflict},
	apperr.SystemAlreadyAssigned:      {codes.AlreadyExists, http.StatusConflict},
	apperr.SystemAlreadyRegistered:    {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.SystemInFormation:          {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.SystemTypeMismatch:         {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.SystemNotPaired:            {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.SystemInError:              {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.EnvironmentNotSupported:    {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.SystemInExclusiveFormation: {codes.FailedPrecondition, http.StatusBadRequest},
	apperr.TokenInvalid:               {codes.Unauthenticated, http.StatusUnauthorized},
	apperr.TokenExpired:               {codes.Unauthenticated, http.StatusUnauthorized},
	apperr.TokenAlreadyUsed:           {codes.Unauthenticated, http.StatusUnauthorized},
	apperr.TokenRevoked:               {codes.Unauthenticated, http.StatusUnauthorized},
	apperr.TokenQuotaExceeded:         {codes.ResourceExhausted, http.StatusTooManyRequests},
	apperr.QuotaExceeded:              {codes.ResourceExhausted, http.StatusTooManyRequests},
	apperr.RateLimited:                {codes.ResourceExhausted, http.StatusTooManyRequests},
	apperr.CursorExpired:              {codes.OutOfRange, http.StatusGone},
	apperr.EtagMismatch:               {codes.Aborted, http.StatusConflict},
	apperr.Unauthenticated:            {codes.Unauthenticated, http.StatusUnauthorized},
	apperr.PermissionDenied:           {codes.PermissionDenied, http.StatusForbidden},
	apperr.Unavailable:                {codes.Unavailable, http.StatusServiceUnavailable},
	apperr.Internal:                   {codes.Internal, http.StatusInternalServerError},
	// Gateway refusals before any service is called.
	apperr.MalformedRequest: {codes.InvalidArgument, http.StatusBadRequest},
	apperr.RequestTooLarge:  {codes.ResourceExhausted, http.StatusRequestEntityTooLarge},
	apperr.RouteNotFound:    {codes.NotFound, http.StatusNotFound},
}

// GatewayOnly reports whether r is a refusal of the gateway itself, never
// returned by a service over gRPC: its HTTP status is not derived from its code.
func GatewayOnly(r apperr.Reason) bool {
	switch r {
	case apperr.MalformedRequest, apperr.RequestTooLarge, apperr.RouteNotFound,
		// The event watch is served by the gateway itself (no gRPC call).
		apperr.CursorExpired:
		return true
	}
	return false
}

// Code returns the gRPC code of a reason (docs/API.md, "Reasons"); Internal for an
// unknown reason.
func Code(r apperr.Reason) codes.Code {
	if m, ok := reasons[r]; ok {
		return m.code
	}
	return codes.Internal
}

// HTTPStatus returns the HTTP status of a reason (docs/API.md, "Reasons"); 500 for an
// unknown reason. The gateway uses it for its own refusals.
func HTTPStatus(r apperr.Reason) int {
	if m, ok := reasons[r]; ok {
		return m.http
	}
	return http.StatusInternalServerError
}

// Status maps any error to the gRPC status callers see: the code of its
// apperr reason, an ErrorInfo (domain "landscape", the reason, metadata)
// and BadRequest field violations; internal errors masked. This is the one
// place where errors become codes.
//
// In order:
//   - nil is OK;
//   - an error already mapped by the server's interceptors keeps its status;
//   - an *apperr.Error with a known reason other than INTERNAL gets the
//     code of its reason, its message, metadata and field violations (an
//     unknown reason is a bug: INTERNAL);
//   - context.DeadlineExceeded and context.Canceled (also wrapped, also as
//     the cause of an INTERNAL error) become DEADLINE_EXCEEDED and CANCELED;
//   - a gRPC status (from a peer service's client, also wrapped) passes
//     through unchanged when it carries an ErrorInfo; a bare UNAVAILABLE or
//     DEADLINE_EXCEEDED keeps its code, gets reason UNAVAILABLE and a safe
//     message; a bare CANCELED stays CANCELED;
//   - anything else is INTERNAL with the message "internal error".
func Status(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	var m *mappedError
	if errors.As(err, &m) {
		return m.st
	}
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Reason != apperr.Internal {
		if _, known := reasons[ae.Reason]; known {
			return fromApp(ae)
		}
	}
	if st, ok := peerStatus(err); ok {
		return st
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		st, _ := TransportStatus(codes.DeadlineExceeded)
		return st
	case errors.Is(err, context.Canceled):
		st, _ := TransportStatus(codes.Canceled)
		return st
	}
	return build(codes.Internal, internalMessage, apperr.Internal, nil, nil)
}

// fromApp maps an apperr error with a contract reason.
func fromApp(e *apperr.Error) *status.Status {
	code := Code(e.Reason)
	msg := e.Message
	if code == codes.Internal {
		msg = internalMessage
	}
	return build(code, msg, e.Reason, e.Metadata, e.Violations)
}

// peerStatus handles a gRPC status found in err's chain.
func peerStatus(err error) (*status.Status, bool) {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return nil, false
	}
	st := se.GRPCStatus()
	if st == nil || st.Code() == codes.OK {
		return nil, false
	}
	if reasonOf(st) != "" {
		return st, true
	}
	return TransportStatus(st.Code())
}

// TransportStatus is the status callers see for a transport failure: a
// bare UNAVAILABLE, DEADLINE_EXCEEDED or CANCELED (no ErrorInfo) keeps its
// code and gets reason UNAVAILABLE and a safe message. ok is false for any
// other code, which no transport failure has. The services (for a peer's
// status) and the gateway (for a service it could not reach) both map
// through it.
func TransportStatus(code codes.Code) (st *status.Status, ok bool) {
	msg, ok := transportMessages[code]
	if !ok {
		return nil, false
	}
	return build(code, msg, apperr.Unavailable, nil, nil), true
}

// build makes a status with an ErrorInfo and, when there are violations, a
// BadRequest.
func build(code codes.Code, msg string, reason apperr.Reason, md map[string]string, violations []apperr.FieldViolation) *status.Status {
	st := status.New(code, msg)
	info := &errdetails.ErrorInfo{Domain: Domain, Reason: string(reason), Metadata: md}
	var withDetails *status.Status
	var err error
	if len(violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       v.Field,
				Description: v.Description,
			})
		}
		withDetails, err = st.WithDetails(info, br)
	} else {
		withDetails, err = st.WithDetails(info)
	}
	if err != nil { // only for a nil message; cannot happen
		return st
	}
	return withDetails
}

// reasonOf returns the ErrorInfo reason of st, or "".
func reasonOf(st *status.Status) string {
	return ErrorInfo(st).GetReason()
}

// mappedError is an error already mapped by Status that keeps its cause for
// the log line. It is what the interceptors return to gRPC: its Error text
// is the status, never the cause.
type mappedError struct {
	st    *status.Status
	cause error
}

func (e *mappedError) Error() string              { return e.st.Err().Error() }
func (e *mappedError) GRPCStatus() *status.Status { return e.st }
func (e *mappedError) Unwrap() error              { return e.cause }

// mapErr maps err once, keeping the cause for logging.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var m *mappedError
	if errors.As(err, &m) {
		return m
	}
	return &mappedError{st: Status(err), cause: err}
}

// ErrorInfo returns the google.rpc.ErrorInfo of st, or nil.
func ErrorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}
