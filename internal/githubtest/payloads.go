package githubtest

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Payload building shared by webhooks and REST responses. GitHub renders the
// repository and user objects the same way everywhere, except that push
// payloads carry created_at and pushed_at as Unix seconds (a long-standing
// quirk that webhook parsers such as go-playground/webhooks rely on).

// link is an absolute URL on the stand-in. API and web links share its
// origin; they differ by path as on GitHub (repos/o/r/... against o/r/...).
func (s *Server) link(path string) string { return s.srv.URL + "/" + path }

// repoPath is "repos/owner/name", the prefix of every repository API URL.
func (s *Server) repoPath() string { return "repos/" + s.FullName() }

// userJSON is the GitHub user object for login.
func (s *Server) userJSON(login string) map[string]any {
	return map[string]any{
		"login":               login,
		"id":                  int64(1000 + len(login)),
		"node_id":             nodeID("User", login),
		"avatar_url":          s.link(login + ".png"),
		"gravatar_id":         "",
		"url":                 s.link("users/" + login),
		"html_url":            s.link(login),
		"followers_url":       s.link("users/" + login + "/followers"),
		"following_url":       s.link("users/" + login + "/following{/other_user}"),
		"gists_url":           s.link("users/" + login + "/gists{/gist_id}"),
		"starred_url":         s.link("users/" + login + "/starred{/owner}{/repo}"),
		"subscriptions_url":   s.link("users/" + login + "/subscriptions"),
		"organizations_url":   s.link("users/" + login + "/orgs"),
		"repos_url":           s.link("users/" + login + "/repos"),
		"events_url":          s.link("users/" + login + "/events{/privacy}"),
		"received_events_url": s.link("users/" + login + "/received_events"),
		"type":                "User",
		"site_admin":          false,
	}
}

// sender is who pushes and calls the API: the token's user, named after the
// owner so payloads stay predictable.
func (s *Server) sender() map[string]any { return s.userJSON(s.opts.Owner) }

// repoID is the repository's numeric id.
const repoID = int64(123456789)

// repositoryJSON is the repository object; pushStyle selects the push
// payload's Unix-seconds timestamps.
func (s *Server) repositoryJSON(pushStyle bool) map[string]any {
	api := s.link(s.repoPath())
	owner := s.userJSON(s.opts.Owner)
	s.mu.Lock()
	pushedAt := s.pushedAt
	s.mu.Unlock()
	var created, pushed any = apiTime(s.created), apiTime(pushedAt)
	if pushStyle {
		owner["name"] = s.opts.Owner
		owner["email"] = s.opts.Owner + "@users.noreply.github.com"
		created, pushed = s.created.Unix(), pushedAt.Unix()
	}
	repo := map[string]any{
		"id":                repoID,
		"node_id":           nodeID("Repository", s.FullName()),
		"name":              s.opts.Name,
		"full_name":         s.FullName(),
		"owner":             owner,
		"private":           true,
		"html_url":          s.link(s.FullName()),
		"description":       nil,
		"fork":              false,
		"url":               api,
		"created_at":        created,
		"updated_at":        apiTime(s.created),
		"pushed_at":         pushed,
		"git_url":           "git://" + strings.TrimPrefix(s.GitURL(), "http://"),
		"ssh_url":           "git@127.0.0.1:" + s.FullName() + ".git",
		"clone_url":         s.GitURL(),
		"svn_url":           s.link(s.FullName()),
		"homepage":          nil,
		"size":              0,
		"language":          nil,
		"visibility":        "private",
		"archived":          false,
		"disabled":          false,
		"default_branch":    s.opts.DefaultBranch,
		"has_issues":        true,
		"has_wiki":          false,
		"has_pages":         false,
		"has_downloads":     true,
		"forks_count":       0,
		"open_issues_count": 0,
		"watchers_count":    0,
		"stargazers_count":  0,
		"forks":             0,
		"open_issues":       0,
		"watchers":          0,
		"mirror_url":        nil,
	}
	for key, suffix := range map[string]string{
		"hooks_url": "/hooks", "tags_url": "/tags", "git_tags_url": "/git/tags{/sha}",
		"git_refs_url": "/git/refs{/sha}", "commits_url": "/commits{/sha}",
		"git_commits_url": "/git/commits{/sha}", "contents_url": "/contents/{+path}",
		"deployments_url": "/deployments", "branches_url": "/branches{/branch}",
		"compare_url": "/compare/{base}...{head}",
	} {
		repo[key] = api + suffix
	}
	if pushStyle {
		repo["stargazers"] = 0
		repo["master_branch"] = s.opts.DefaultBranch
	}
	return repo
}

func isoTime(t time.Time) string { return t.Format(time.RFC3339) }

// identJSON is a commit author or committer in a push payload.
func identJSON(id ident) map[string]any {
	return map[string]any{"name": id.Name, "email": id.Email}
}

// pushCommitJSON is one entry of a push payload's commits (and head_commit).
func (s *Server) pushCommitJSON(sha string, distinct bool) (map[string]any, error) {
	c, err := s.readCommit(sha)
	if err != nil {
		return nil, err
	}
	added, removed, modified, err := s.changedFiles(sha)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"id":        c.SHA,
		"tree_id":   c.Tree,
		"distinct":  distinct,
		"message":   strings.TrimSuffix(c.Message, "\n"),
		"timestamp": isoTime(c.Committer.When),
		"url":       s.link(s.FullName() + "/commit/" + c.SHA),
		"author":    identJSON(c.Author),
		"committer": identJSON(c.Committer),
		"added":     added,
		"removed":   removed,
		"modified":  modified,
	}, nil
}

// maxPushCommits is the most commits a push payload lists.
const maxPushCommits = 2048

// refUpdate is one ref changed by a push; Before or After is the zero
// refInfo when the ref was created or deleted.
type refUpdate struct {
	Ref           string
	Before, After refInfo
}

func (u refUpdate) created() bool { return u.Before.SHA == "" }
func (u refUpdate) deleted() bool { return u.After.SHA == "" }
func (u refUpdate) isTag() bool   { return strings.HasPrefix(u.Ref, "refs/tags/") }

// shortRef is the name create/delete events use: no refs/heads/ or refs/tags/.
func (u refUpdate) shortRef() string {
	return strings.TrimPrefix(strings.TrimPrefix(u.Ref, "refs/heads/"), "refs/tags/")
}

func (u refUpdate) refType() string {
	if u.isTag() {
		return "tag"
	}
	return "branch"
}

func shaOr0(r refInfo) string {
	if r.SHA == "" {
		return zeroSHA
	}
	return r.SHA
}

// diffRefs lists the refs that differ between two snapshots, by name.
func diffRefs(before, after map[string]refInfo) []refUpdate {
	var ups []refUpdate
	for name, a := range after {
		if b := before[name]; b.SHA != a.SHA {
			ups = append(ups, refUpdate{Ref: name, Before: b, After: a})
		}
	}
	for name, b := range before {
		if _, ok := after[name]; !ok {
			ups = append(ups, refUpdate{Ref: name, Before: b})
		}
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Ref < ups[j].Ref })
	return ups
}

// pushPayload is the push event for one ref update; refs is the state after
// the push (for base_ref and for deciding which commits are new).
func (s *Server) pushPayload(u refUpdate, refs map[string]refInfo) (map[string]any, error) {
	p := map[string]any{
		"ref":         u.Ref,
		"before":      shaOr0(u.Before),
		"after":       shaOr0(u.After),
		"created":     u.created(),
		"deleted":     u.deleted(),
		"forced":      false,
		"base_ref":    nil,
		"commits":     []any{},
		"head_commit": nil,
		"repository":  s.repositoryJSON(true),
		"pusher":      map[string]any{"name": s.opts.Owner, "email": s.opts.Owner + "@users.noreply.github.com"},
		"sender":      s.sender(),
	}
	switch {
	case u.created():
		p["compare"] = s.link(s.FullName() + "/compare/" + u.shortRef())
	default:
		p["compare"] = s.link(fmt.Sprintf("%s/compare/%s...%s", s.FullName(), shaOr0(u.Before)[:12], shaOr0(u.After)[:12]))
	}
	if u.deleted() || u.After.Peeled == "" {
		return p, nil
	}
	head, err := s.pushCommitJSON(u.After.Peeled, !u.isTag())
	if err != nil {
		return nil, err
	}
	p["head_commit"] = head
	if u.isTag() {
		// A tag push lists no commits; base_ref names a branch whose tip is
		// the tagged commit, when there is one.
		for _, name := range sortedRefNames(refs) {
			if strings.HasPrefix(name, "refs/heads/") && refs[name].SHA == u.After.Peeled {
				p["base_ref"] = name
				break
			}
		}
		return p, nil
	}
	// A branch push lists the commits it brought: before..after, or for a new
	// branch those no other branch already had.
	var exclude []string
	if u.created() {
		for _, name := range sortedRefNames(refs) {
			if strings.HasPrefix(name, "refs/heads/") && name != u.Ref {
				exclude = append(exclude, refs[name].SHA)
			}
		}
	} else {
		exclude = []string{u.Before.SHA}
		p["forced"] = u.Before.Peeled != "" && !s.isAncestor(u.Before.Peeled, u.After.Peeled)
	}
	shas, err := s.revList(u.After.SHA, exclude)
	if err != nil {
		return nil, err
	}
	if len(shas) > maxPushCommits {
		shas = shas[len(shas)-maxPushCommits:]
	}
	commits := make([]any, 0, len(shas))
	for _, sha := range shas {
		c, err := s.pushCommitJSON(sha, true)
		if err != nil {
			return nil, err
		}
		commits = append(commits, c)
	}
	p["commits"] = commits
	return p, nil
}

// refEventPayload is the create or delete event for one ref update.
func (s *Server) refEventPayload(u refUpdate) map[string]any {
	p := map[string]any{
		"ref":         u.shortRef(),
		"ref_type":    u.refType(),
		"pusher_type": "user",
		"repository":  s.repositoryJSON(false),
		"sender":      s.sender(),
	}
	if u.created() {
		p["master_branch"] = s.opts.DefaultBranch
		p["description"] = nil
	}
	return p
}

// maxTagsWithEvents is the most tags one push may update and still get
// webhooks: GitHub sends no push, create or delete events for any tag of a
// push that updates more than three.
const maxTagsWithEvents = 3

// emitRefUpdates queues the webhooks GitHub sends for one push (or one REST
// ref change, when fromREST).
func (s *Server) emitRefUpdates(ups []refUpdate, refs map[string]refInfo, fromREST bool) {
	if len(ups) > 0 {
		s.mu.Lock()
		s.pushedAt = time.Now().UTC().Truncate(time.Second)
		s.mu.Unlock()
	}
	tags := 0
	for _, u := range ups {
		if u.isTag() {
			tags++
		}
	}
	for _, u := range ups {
		if u.isTag() && (tags > maxTagsWithEvents || fromREST && !s.opts.RESTTagEvents) {
			continue
		}
		push, err := s.pushPayload(u, refs)
		if err != nil {
			s.t.Errorf("githubtest: building push payload for %s: %v", u.Ref, err)
			continue
		}
		s.broadcast("push", push)
		switch {
		case u.created():
			s.broadcast("create", s.refEventPayload(u))
		case u.deleted():
			s.broadcast("delete", s.refEventPayload(u))
		}
	}
}
