package api

import _ "embed"

// OpenAPI is the OpenAPI 3.0 document that describes every route, served at /api/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
