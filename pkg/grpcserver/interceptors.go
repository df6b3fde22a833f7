package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/eventctx"
)

// The chain, outermost first: recovery, logging, auth. The logging layer
// maps what the inner layers return with Status (a *mappedError that keeps
// the cause), so it sees both what the caller gets and why; recovery maps
// a panic itself.

// recoverUnary turns a panic into INTERNAL and logs the stack.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(ctx, info.FullMethod, p)
			resp = nil
		}
	}()
	return next(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(ss.Context(), info.FullMethod, p)
		}
	}()
	return next(srv, ss)
}

// recovered logs a panic with its stack (this is the call's log line) and
// returns the masked INTERNAL error.
func (s *Server) recovered(ctx context.Context, method string, p any) error {
	err := mapErr(fmt.Errorf("panic: %v", p))
	s.logger.LogAttrs(ctx, slog.LevelError, "grpc call panicked",
		slog.String("method", method),
		slog.String("code", codes.Internal.String()),
		slog.String("reason", reasonOf(Status(err))),
		slog.String("peer", peerAddr(ctx)),
		slog.String("error", fmt.Sprint(p)),
		slog.String("stack", string(debug.Stack())),
	)
	return err
}

// callLog is what the log line of a call learns from the inner layers:
// the authenticated caller. It is set and read on the call's goroutine.
type callLog struct {
	caller authn.Caller
	known  bool
}

type callLogKey struct{}

// noteCaller records the authenticated caller for the call's log line.
func noteCaller(ctx context.Context) {
	if cl, ok := ctx.Value(callLogKey{}).(*callLog); ok {
		cl.caller, cl.known = authn.FromContext(ctx)
	}
}

// logUnary writes one line per call.
func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx = context.WithValue(ctx, callLogKey{}, &callLog{})
	resp, err := next(ctx, req)
	err = mapErr(err)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	start := time.Now()
	ctx := context.WithValue(ss.Context(), callLogKey{}, &callLog{})
	err := mapErr(next(srv, &ctxStream{ServerStream: ss, ctx: ctx}))
	s.logCall(ctx, info.FullMethod, start, err)
	return err
}

// logCall logs method, code, reason, duration, peer and the authenticated
// caller (sub, and ga for a user; never the JWT): Info for OK, Warn for
// errors of the caller, Error (with the internal cause) for failures of
// the service or its dependencies. Never request bodies or metadata.
func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := codes.OK
	var st *status.Status
	if err != nil {
		st = Status(err)
		code = st.Code()
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
		slog.String("peer", peerAddr(ctx)),
	}
	if cl, ok := ctx.Value(callLogKey{}).(*callLog); ok && cl.known {
		attrs = append(attrs, slog.String("sub", cl.caller.Subject))
		if cl.caller.GlobalAccount != "" {
			attrs = append(attrs, slog.String("ga", cl.caller.GlobalAccount))
		}
	}
	if err == nil {
		s.logger.LogAttrs(ctx, slog.LevelInfo, "grpc call", attrs...)
		return
	}
	attrs = append(attrs, slog.String("reason", reasonOf(st)))
	level := Level(st.Code())
	if level >= slog.LevelError {
		var m *mappedError
		if errors.As(err, &m) && m.cause != nil {
			attrs = append(attrs, slog.String("error", m.cause.Error()))
		}
	} else {
		attrs = append(attrs, slog.String("message", st.Message()))
	}
	s.logger.LogAttrs(ctx, level, "grpc call", attrs...)
}

// Level is the log level of a call that ended with code: Info for OK, Error
// for failures of the service or its dependencies (INTERNAL, UNKNOWN,
// DATA_LOSS, UNAVAILABLE, DEADLINE_EXCEEDED), Warn for the caller's errors.
func Level(c codes.Code) slog.Level {
	switch c {
	case codes.OK:
		return slog.LevelInfo
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable, codes.DeadlineExceeded:
		return slog.LevelError
	}
	return slog.LevelWarn
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// authUnary enforces the method's policy before the handler runs.
func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if s.auth == nil {
		return next(ctx, req)
	}
	policy := s.policy(info.FullMethod)
	if err := s.checkInternalCaller(ctx, policy); err != nil {
		return nil, mapErr(err)
	}
	ctx, err := s.auth.Authenticate(ctx, policy)
	if err != nil {
		return nil, mapErr(err)
	}
	noteCaller(ctx)
	return next(eventAttrs(ctx), req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if s.auth == nil {
		return next(srv, ss)
	}
	policy := s.policy(info.FullMethod)
	if err := s.checkInternalCaller(ss.Context(), policy); err != nil {
		return mapErr(err)
	}
	ctx, err := s.auth.Authenticate(ss.Context(), policy)
	if err != nil {
		return mapErr(err)
	}
	noteCaller(ctx)
	return next(srv, &ctxStream{ServerStream: ss, ctx: eventAttrs(ctx)})
}

// eventAttrs puts into ctx the extension attributes of the events the call
// commits (package eventctx): a user's call acts as user:<JWT sub>; a
// service passes on the attributes of the change it makes (metadata
// landscape-ce-*-bin, see authn.PassEventAttrs), acting as
// service:<name> when it names no actor; a public call has none until its
// handler learns who acts (pairing: the integration token).
func eventAttrs(ctx context.Context) context.Context {
	c, ok := authn.FromContext(ctx)
	if !ok {
		return ctx
	}
	if !c.Service {
		return eventctx.WithActor(ctx, eventctx.UserPrefix+c.Subject)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	ctx = eventctx.FromMetadata(ctx, md)
	if eventctx.From(ctx).Get(eventctx.Actor) == "" {
		ctx = eventctx.WithActor(ctx, c.Subject) // service:<name>
	}
	return ctx
}

// ctxStream is a server stream with the authenticated context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *ctxStream) Context() context.Context { return c.ctx }
