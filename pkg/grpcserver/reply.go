package grpcserver

// Reply returns the tail of a gRPC handler: it converts an application
// call's result with conv, or passes the call's error on (a nil response).
//
//	var formation = grpcserver.Reply(formationpb.Formation)
//	...
//	return formation(s.app.Get(ctx, ga, id))
func Reply[T, M any](conv func(T) M) func(T, error) (M, error) {
	return func(v T, err error) (M, error) {
		if err != nil {
			var zero M
			return zero, err
		}
		return conv(v), nil
	}
}

// Each converts every item of a page with conv.
func Each[T, M any](items []T, conv func(T) M) []M {
	out := make([]M, 0, len(items))
	for _, v := range items {
		out = append(out, conv(v))
	}
	return out
}
