// Package openapi embeds the OpenAPI v2 document generated from the protos
// and the HTTP rules: one document for every service on the gateway.
package openapi

import _ "embed"

// JSON is the OpenAPI document, served by the gateway at /openapi.json.
//
//go:embed landscape.swagger.json
var JSON []byte
