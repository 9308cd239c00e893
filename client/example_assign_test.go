package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hookd-dev/hookd/client"
)

// A CI job assigns the version it tested to a stage. The job's token may
// assign dev and staging only; hookd applies GTO's rules and the
// repository's promotion order, creates the tag, and says what it did in
// gto's words, or why not.
func Example_assignFromCI() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("HOOKD_SERVER"), client.WithToken(os.Getenv("HOOKD_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	models := c.Repository("acme", "models")

	req := client.WriteRequest{Artifact: "churn", Version: "v1.0.0", Stage: "staging", Message: "passed CI run 42"}
	res, err := models.Assign(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Tags)
	fmt.Println(res.Output[0])

	// Refusals are *client.Error values: the HTTP status, a code for
	// programs and GTO's message for people.
	var refused *client.Error
	if _, err := models.Assign(ctx, req); errors.As(err, &refused) {
		fmt.Println(refused.StatusCode, refused.Code+":", refused.Message)
	}
	req.Stage = "prod"
	if _, err := models.Assign(ctx, req); errors.As(err, &refused) {
		fmt.Println(refused.StatusCode, refused.Code+":", refused.Message)
	}
	// Output:
	// [churn#staging#1]
	// Created git tag 'churn#staging#1' that assigns stage to version 'v1.0.0'
	// 409 conflict: Version 'v1.0.0' is already in stage 'staging'. Use the '--force' flag to create a new Git tag nevertheless.
	// 403 forbidden: ci may not assign stage "prod" in acme/models
}
