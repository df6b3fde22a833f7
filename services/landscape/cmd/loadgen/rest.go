package main

import (
	"context"
	"errors"
	"net/http"
)

// The target's calls through the gateway (the REST API), beside their
// gRPC counterparts in target.go.

// rest sends one JSON request to the gateway and decodes the answer into
// out (when not nil). ga, when not empty, selects the JWT. A refusal is a
// *restclient.APIError (the status body, which never carries a token).
func (t *target) rest(ctx context.Context, method, path, ga string, in, out any) error {
	api := t.api
	if ga != "" {
		j, err := t.jwtFor(ga)
		if err != nil {
			return err
		}
		api = api.WithJWT(j)
	}
	return api.Call(ctx, method, path, nil, in, out)
}

// registerREST registers one system through the gateway.
func (t *target) registerREST(ctx context.Context, what string) (string, issued, error) {
	ga, typ := t.nextRegistration(what)
	var out struct {
		System struct {
			Name string `json:"name"`
		} `json:"system"`
		IntegrationToken struct {
			Token string `json:"token"`
		} `json:"integrationToken"`
	}
	in := map[string]string{"displayName": "Load " + randomID(12), "type": typ}
	if err := t.rest(ctx, http.MethodPost, "/v1/globalAccounts/"+ga+"/systems", ga, in, &out); err != nil {
		return "", issued{}, err
	}
	if out.IntegrationToken.Token == "" {
		return "", issued{}, errors.New("RegisterSystem answered without a token")
	}
	return out.System.Name, issued{token: out.IntegrationToken.Token, typ: typ}, nil
}

// pairREST pairs through POST /v1/systems:pair.
func (t *target) pairREST(ctx context.Context, tok issued) error {
	in := map[string]string{"integrationToken": tok.token, "systemType": tok.typ, "baseUrl": "https://load.example.com"}
	return t.rest(ctx, http.MethodPost, "/v1/systems:pair", "", in, nil)
}

// generateREST is generateGRPC through the gateway
// (POST /v1/{name}:generateIntegrationToken).
func (t *target) generateREST(ctx context.Context, name string) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := t.rest(ctx, http.MethodPost, "/v1/"+name+":generateIntegrationToken", gaOf(name), struct{}{}, &out); err != nil {
		return err
	}
	if out.Token == "" {
		return errors.New("generateIntegrationToken answered without a token")
	}
	return nil
}
