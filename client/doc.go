/*
Package client is a Go client for hookd's HTTP API, /api/v1: the
registry's reads and GTO's writes for CI jobs and bots, and the operations
records (deliveries, events, deploy runs, the audit log) for the scripts
that look after them. hookd's own remote CLI (`hookd --server`) is built on
it.

# Connecting

A [Client] talks to one server. Give it the server's URL and an API
token; keep the token out of command lines and read it from the
environment, the way hookd's CLI reads $HOOKD_TOKEN:

	c, err := client.New("https://hookd.example.com", client.WithToken(os.Getenv("HOOKD_TOKEN")))
	if err != nil {
		// the URL is not an http(s) URL
	}

The token's scopes, set in the server's configuration, say what the
client may do: which operations on which repositories, which stages it may
assign. Every call takes a context; a call also ends after
[DefaultTimeout] with the default HTTP client ([WithHTTPClient] replaces
it). Redirects are not followed: a write turned into a GET, or a token sent
to another host, would be worse than an error.

# Reading the registry

[Client.Repository] names a repository as the server's configuration
does (the GitHub owner/name). Its reads answer what `gto ... --json`
prints, in package registry's types:

	models := c.Repository("acme", "models")
	overview, err := models.Show(ctx, registry.DefaultShowOptions())
	churn, _ := overview.Get("churn")      // latest version, and what each stage holds
	events, err := models.CheckRef(ctx, "churn#prod#3")

A program that prints the server's JSON itself passes [KeepBody], which
keeps the body exactly as it came (key order, custom annotations).

# Writing

[Repository.Register], [Repository.Assign], [Repository.Unassign],
[Repository.Deregister] and [Repository.Deprecate] are gto's commands of
those names, with the same options in a [WriteRequest]. The server applies
GTO's rules and the repository's promotion order, creates the tags (each
message naming the token that asked) and answers with them, gto's lines
and the events they caused:

	res, err := models.Assign(ctx, client.WriteRequest{Artifact: "churn", Version: "v1.2.0", Stage: "staging"})
	// res.Tags: [churn#staging#4]

See the example of a CI job assigning a stage.

# Errors

A refusal is an [*Error]: StatusCode is the HTTP status (403 outside the
token's scopes, 404 an unknown artifact or version, 409 one of GTO's
rules, 422 a malformed request), Code a stable word for programs
("forbidden", "conflict", ...) and Message what GTO would have said:

	var refused *client.Error
	if errors.As(err, &refused) && refused.StatusCode == http.StatusConflict {
		log.Printf("not assigned: %s", refused.Message)
	}

A write that failed after creating some tags lists them in the Error's
Tags and Output: they exist. Any error that is not an *Error means the
server's answer never arrived, so whether a write was carried out is not
known; look at the history before sending it again.

# Lists

[Client.Events], [Client.Deliveries], [Client.Runs] and [Client.Audit]
are iterators (iter.Seq2) over every record a filter selects, newest
first. They fetch a page at a time ([Page] sets its size and where to
start) and stop fetching when the loop stops; a failed request is yielded
as the error and ends the loop:

	for run, err := range c.Runs(ctx, client.RunFilter{Repository: "acme/models", Status: "failed"}) {
		if err != nil {
			return err
		}
		if err := c.RetryRun(ctx, run.ID); err != nil {
			return err
		}
	}

See the example of retrying failed runs.

# The document

The types of this package are the schemas of the server's OpenAPI
document (GET /api/v1/openapi.json, [Client.OpenAPI]), and every operation
in it has a method here; the package's tests check both against the
document.
*/
package client
