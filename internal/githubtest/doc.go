// Package githubtest is the GitHub stand-in every hookd test uses instead of
// github.com, which these machines cannot reach. It owns one fake repository
// and behaves the way github-facts.md (beside DESIGN.md) describes GitHub: the
// REST endpoints hookd calls, git smart HTTP, and signed webhooks, including
// the awkward parts (no webhooks for a push of more than three tags, 422 on
// an existing ref, per_page ignored by matching-refs, 304s that do not count
// against the rate limit).
//
// A Server is an httptest server on 127.0.0.1 backed by a real bare
// repository (git init --bare, default branch main) in the test's temp dir:
//
//	gh := githubtest.New(t, githubtest.Options{Owner: "acme", Name: "models"})
//
// Push to it with the real git CLI. Clones and pushes go through git
// http-backend and need the token, as on GitHub:
//
//	git clone gh.AuthGitURL() work   // http://x-access-token:TOKEN@127.0.0.1:PORT/acme/models.git
//
// Talk to the REST API with go-github:
//
//	c := github.NewClient(nil).WithAuthToken(gh.Token())
//	c.BaseURL, _ = url.Parse(gh.APIURL())
//
// (GitHub Enterprise style works too: the API also answers under /api/v3/.)
//
// GraphQLURL is a GraphQL endpoint (also at /api/graphql) serving the subset
// of GitHub's schema hookd reads git objects through: object(oid:) under
// repository, with inline fragments on Tag and Commit. Dates keep the
// offset git recorded, as GitHub's GitTimestamp does; queries spend points
// from a budget of their own (Options.GraphQLRateLimit, GraphQLRateLimitUsed).
//
// With Options.AppID set it also plays a GitHub App installation, so
// ghinstallation can trade a JWT signed with AppPrivateKeyPEM for the token.
//
// A test that needs history but no clone seeds it with Commit, which sends
// no webhooks:
//
//	sha := gh.Commit(t, "main", map[string]string{".gto": "..."}, "Configure GTO")
//
// Register a webhook receiver with AddHook; it gets a ping, then for each
// push one signed "push" per ref plus "create"/"delete" events for created
// and deleted refs, sent asynchronously one after another. A push is
// finished on the server before `git push` returns, so after it, WaitIdle
// then Deliveries shows every delivery it caused:
//
//	gh.AddHook(receiver.URL, "secret")
//	// git push ...
//	gh.WaitIdle(ctx)
//	for _, d := range gh.Deliveries() { ... }
//
// Hooks can also be made the way a client makes them, through the
// repository webhooks API: create (201, pinged at once; 422 "Hook already
// exists on this repository" for the same URL and events), list, get,
// update (a config replaces the old one, secret included), ping, and the
// deliveries list with its status filter and cursor. Such a hook gets only
// the events it subscribes to, none while inactive, and a form body when
// its content type is "form".
//
// Whether tags created through the REST API emit webhooks is unconfirmed on
// GitHub, so Options.RESTTagEvents switches it; test hookd both ways.
//
// The REST side validates as GitHub does, so setup must be real: a workflow
// dispatch needs .github/workflows/FILE with a workflow_dispatch trigger at
// the ref, and a deployment with the default auto_merge needs a ref that
// contains the default branch.
//
// What clients did is inspectable: Deployments, WorkflowDispatches,
// RepositoryDispatches, Requests (REST and GraphQL, with RequestCount per
// endpoint, RateLimitUsed and GraphQLRateLimitUsed), Deliveries. Things can be made to go wrong:
// InjectDeliveryFault drops, duplicates, delays or reorders deliveries, and
// InjectRESTFault makes REST or GraphQL requests fail with 5xx, hang, or
// hit the primary or secondary rate limit. Redeliver (or the REST redelivery
// endpoint) re-sends a delivery with its original GUID.
package githubtest
