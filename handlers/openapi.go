package handlers

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.0 document of everything under /api/v1. A test
// holds it to the routes APIRoutes lists and to the answers they give.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI document of the API.
func OpenAPI() []byte { return openAPI }

// serveOpenAPI answers GET /api/v1/openapi.json, without a token: the
// document describes the API and holds no secret.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}
