package gateway

import (
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
)

// reportStatusPattern is the status callback of a system's assignment.
// Its HTTP rule (StatusCallbackService.ReportStatus) puts it in the
// OpenAPI document, but its generated handler is never registered: the
// signature covers the body as sent, so the gateway passes the bytes and
// the Standard Webhooks headers on unparsed.
const reportStatusPattern = "/v1/{name=globalAccounts/*/formations/*/assignments/*}:reportStatus"

// reportStatusSuffix marks the callback for the pairing rate limit.
const reportStatusSuffix = ":reportStatus"

// registerReportStatus serves the status callback on the mux.
func (g *Gateway) registerReportStatus(client formationv1.FormationServiceClient) error {
	return g.mux.HandlePath(http.MethodPost, reportStatusPattern, func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		setRoute(r, reportStatusPattern)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			runtime.HTTPError(r.Context(), g.mux, jsonMarshaler, w, r, err)
			return
		}
		_, err = client.ReportAssignmentStatus(r.Context(), &formationv1.ReportAssignmentStatusRequest{
			Name:             params["name"],
			Payload:          body,
			WebhookId:        r.Header.Get("webhook-id"),
			WebhookTimestamp: r.Header.Get("webhook-timestamp"),
			WebhookSignature: r.Header.Get("webhook-signature"),
		})
		if err != nil {
			runtime.HTTPError(r.Context(), g.mux, jsonMarshaler, w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})
}

func isReportStatus(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, reportStatusSuffix)
}
