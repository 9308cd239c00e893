package github

import (
	"fmt"
	"net/url"
	"strings"
)

// Spec names a repository on a GitHub host.
type Spec struct {
	Host  string // "github.com", or a GitHub Enterprise Server host
	Owner string
	Name  string
}

// ParseSpec reads the ways users name a GitHub repository:
//
//	github:owner/name
//	https://github.com/owner/name[.git][/]
//	git@github.com:owner/name[.git]
//
// URLs on other hosts name GitHub Enterprise Server repositories.
func ParseSpec(spec string) (Spec, error) {
	var host, path string
	switch {
	case strings.HasPrefix(spec, "github:"):
		host, path = "github.com", strings.TrimPrefix(spec, "github:")
	case strings.HasPrefix(spec, "https://"), strings.HasPrefix(spec, "http://"):
		u, err := url.Parse(spec)
		if err != nil {
			return Spec{}, fmt.Errorf("github: repository %q: %w", spec, err)
		}
		host, path = u.Host, u.Path
	case strings.HasPrefix(spec, "git@"):
		var ok bool
		host, path, ok = strings.Cut(strings.TrimPrefix(spec, "git@"), ":")
		if !ok {
			return Spec{}, fmt.Errorf("github: repository %q: want git@host:owner/name", spec)
		}
	default:
		return Spec{}, fmt.Errorf("github: repository %q: want github:owner/name or a repository URL", spec)
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	owner, name, ok := strings.Cut(path, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Spec{}, fmt.Errorf("github: repository %q: want owner/name", spec)
	}
	return Spec{Host: strings.ToLower(host), Owner: owner, Name: name}, nil
}

// Open returns the repository that spec names (see ParseSpec). A host
// other than github.com is taken as GitHub Enterprise Server unless opts
// set a base URL.
func Open(spec string, opts ...Option) (*Repo, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if s.Host != "github.com" && s.Host != "www.github.com" {
		opts = append([]Option{WithEnterprise("https://" + s.Host + "/")}, opts...)
	}
	return New(s.Owner, s.Name, opts...)
}
