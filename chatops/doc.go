// Package chatops runs GTO's commands typed as chat text, such as Slack's
//
//	/gto assign churn-model v1.2.0 prod -m "ship the retrained model"
//
// and answers them in text for people. One grammar serves every channel:
// Slack's slash command and the generic command endpoint of
// /api/v1/command both hand the text to a [Runner].
//
// The commands are gto's writes, with the version and stage as arguments,
// and two reads:
//
//	assign NAME VERSION STAGE     [-m "MSG"] [--repo OWNER/NAME] [--force] [--simple true|false]
//	unassign NAME VERSION STAGE   (same flags)
//	register NAME [REF]           [--version vX.Y.Z | --bump major|minor|patch] (and the same flags)
//	deregister NAME VERSION       (same flags)
//	deprecate NAME                (same flags)
//	show [NAME]                   [--repo OWNER/NAME]; NAME may be NAME#stage or NAME@latest
//	history [NAME]                [--repo OWNER/NAME]
//	help [COMMAND]
//
// [Tokenize] splits the text into words: it understands straight and
// typographic quotes (chat clients turn "…" into “…”), and is text only:
// nothing is ever passed to a shell.
//
// Every write goes through [change.Service.Do] as the principal the
// channel maps its user to, so scopes, GTO's rules, the promotion order
// and the audit log apply as they do to the API; reads go through
// [change.Service.Registry], which checks the principal may read the
// repository. A reply says what was created (gto's own lines) or what went
// wrong and what to do about it.
package chatops
