package gateway

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"

	"github.com/landscape-dev/landscape/gen/openapi"
)

// handwrittenOpenAPI documents the routes the gateway answers itself,
// which have no HTTP rule to generate them from: the watch
// (events:watch), a stream of Server-Sent Events that no gRPC method
// describes. It is an OpenAPI 2 fragment (tags and paths) merged into the
// generated document, so both served documents hold every route.
//
//go:embed openapi_handwritten.json
var handwrittenOpenAPI []byte

// openAPIDocs returns /openapi.json, the document generated from the
// protos and HTTP rules with the hand-written routes merged in, and
// /openapi.v3.json, the same converted to OpenAPI 3: most current client
// generators expect 3.x, and protoc-gen-openapiv2 writes only 2.0. The
// conversion is kin-openapi's openapi2conv. Both are built once, when the
// gateway is built, so a document that cannot be merged or converted
// fails at start, not on a request.
func openAPIDocs() (v2, v3 []byte, err error) {
	if v2, err = mergeOpenAPI(openapi.JSON, handwrittenOpenAPI); err != nil {
		return nil, nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(v2, &doc2); err != nil {
		return nil, nil, fmt.Errorf("openapi: read the v2 document: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, nil, fmt.Errorf("openapi: convert to v3: %w", err)
	}
	if v3, err = json.Marshal(doc3); err != nil {
		return nil, nil, fmt.Errorf("openapi: write the v3 document: %w", err)
	}
	return v2, v3, nil
}

// mergeOpenAPI adds the tags and paths of extra to doc. A path both
// hold is an error: a hand-written route must not shadow a generated one.
func mergeOpenAPI(doc, extra []byte) ([]byte, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi: read the generated document: %w", err)
	}
	var x struct {
		Tags  []json.RawMessage          `json:"tags"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(extra, &x); err != nil {
		return nil, fmt.Errorf("openapi: read the hand-written routes: %w", err)
	}
	var tags []json.RawMessage
	var paths map[string]json.RawMessage
	if err := json.Unmarshal(d["tags"], &tags); err != nil {
		return nil, fmt.Errorf("openapi: read the generated tags: %w", err)
	}
	if err := json.Unmarshal(d["paths"], &paths); err != nil {
		return nil, fmt.Errorf("openapi: read the generated paths: %w", err)
	}
	for p, item := range x.Paths {
		if _, ok := paths[p]; ok {
			return nil, fmt.Errorf("openapi: the hand-written path %s is generated too", p)
		}
		paths[p] = item
	}
	var err error
	if d["tags"], err = json.Marshal(append(tags, x.Tags...)); err != nil {
		return nil, err
	}
	if d["paths"], err = json.Marshal(paths); err != nil {
		return nil, err
	}
	return json.Marshal(d)
}
