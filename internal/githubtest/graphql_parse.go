package githubtest

import (
	"fmt"
	"strconv"
	"strings"
)

// This file parses the subset of GraphQL the stand-in answers: one
// anonymous or named query with variable definitions, fields with aliases
// and arguments (string literals or variables), and inline fragments.
// Anything else (mutations, fragment definitions, directives, numbers,
// lists, default values) is a parse error, so a client that starts sending
// something new finds out here rather than getting a guess.

// gqlDoc is a parsed query.
type gqlDoc struct {
	vars []gqlVarDef
	sel  []gqlSelection
}

type gqlVarDef struct {
	name, typ string // typ as written: "String!", "GitObjectID"
}

// gqlSelection is a field, or an inline fragment (on != "").
type gqlSelection struct {
	field *gqlField
	on    string
	frag  []gqlSelection
	at    gqlLoc
}

type gqlField struct {
	alias, name string
	args        []gqlArg
	sel         []gqlSelection // nil for a leaf
	at          gqlLoc
}

// key is the field's name in the answer.
func (f *gqlField) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

type gqlArg struct {
	name  string
	value gqlValue
}

// gqlValue is a string literal or, when variable is set, a variable.
type gqlValue struct {
	str      string
	variable string
}

type gqlLoc struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// gqlSyntaxError is a parse error, reported as GitHub does.
type gqlSyntaxError struct {
	msg string
	at  gqlLoc
}

func (e *gqlSyntaxError) Error() string { return e.msg }

type gqlToken struct {
	kind string // "name", "string", "punct", "eof"
	text string // the name, the decoded string, or the punctuator
	at   gqlLoc
}

// lexGraphQL splits a query into tokens. Commas are insignificant in
// GraphQL, like white space; '#' starts a comment.
func lexGraphQL(src string) ([]gqlToken, error) {
	var toks []gqlToken
	line, lineStart := 1, 0
	for i := 0; i < len(src); {
		at := gqlLoc{line, i - lineStart + 1}
		c := src[i]
		switch {
		case c == '\n':
			line, lineStart = line+1, i+1
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == ',':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "..."):
			toks = append(toks, gqlToken{"punct", "...", at})
			i += 3
		case strings.IndexByte("{}():!$", c) >= 0:
			toks = append(toks, gqlToken{"punct", string(c), at})
			i++
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || 'a' <= src[j] && src[j] <= 'z' || 'A' <= src[j] && src[j] <= 'Z' || '0' <= src[j] && src[j] <= '9') {
				j++
			}
			toks = append(toks, gqlToken{"name", src[i:j], at})
			i = j
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, &gqlSyntaxError{"Parse error: unterminated string", at}
			}
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				return nil, &gqlSyntaxError{fmt.Sprintf("Parse error: bad string %s", src[i:j+1]), at}
			}
			toks = append(toks, gqlToken{"string", s, at})
			i = j + 1
		default:
			return nil, &gqlSyntaxError{fmt.Sprintf("Parse error on %q at [%d, %d]: not in the subset of GraphQL this stand-in serves", string(c), at.Line, at.Column), at}
		}
	}
	return append(toks, gqlToken{"eof", "", gqlLoc{line, len(src) - lineStart + 1}}), nil
}

type gqlParser struct {
	toks []gqlToken
	pos  int
}

func parseGraphQL(src string) (*gqlDoc, error) {
	toks, err := lexGraphQL(src)
	if err != nil {
		return nil, err
	}
	p := &gqlParser{toks: toks}
	doc, err := p.document()
	if err != nil {
		return nil, err
	}
	return doc, nil
}

func (p *gqlParser) peek() gqlToken { return p.toks[p.pos] }

func (p *gqlParser) next() gqlToken {
	t := p.toks[p.pos]
	if t.kind != "eof" {
		p.pos++
	}
	return t
}

func (p *gqlParser) fail(t gqlToken, want string) error {
	got := t.text
	if t.kind == "eof" {
		got = "end of query"
	}
	return &gqlSyntaxError{fmt.Sprintf("Parse error on %q at [%d, %d]: expected %s", got, t.at.Line, t.at.Column, want), t.at}
}

func (p *gqlParser) punct(s string) error {
	if t := p.next(); t.kind != "punct" || t.text != s {
		return p.fail(t, fmt.Sprintf("%q", s))
	}
	return nil
}

func (p *gqlParser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == "punct" && t.text == s
}

func (p *gqlParser) name() (gqlToken, error) {
	t := p.next()
	if t.kind != "name" {
		return t, p.fail(t, "a name")
	}
	return t, nil
}

func (p *gqlParser) document() (*gqlDoc, error) {
	doc := &gqlDoc{}
	if t := p.peek(); t.kind == "name" {
		if t.text != "query" {
			return nil, p.fail(t, `"query" or "{" (only queries are served)`)
		}
		p.next()
		if p.peek().kind == "name" {
			p.next() // the operation's name
		}
		if p.isPunct("(") {
			vars, err := p.varDefs()
			if err != nil {
				return nil, err
			}
			doc.vars = vars
		}
	}
	sel, err := p.selectionSet()
	if err != nil {
		return nil, err
	}
	doc.sel = sel
	if t := p.next(); t.kind != "eof" {
		return nil, p.fail(t, "end of query (one operation only)")
	}
	return doc, nil
}

func (p *gqlParser) varDefs() ([]gqlVarDef, error) {
	p.next() // (
	var defs []gqlVarDef
	for !p.isPunct(")") {
		if err := p.punct("$"); err != nil {
			return nil, err
		}
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		if err := p.punct(":"); err != nil {
			return nil, err
		}
		typ, err := p.name()
		if err != nil {
			return nil, err
		}
		d := gqlVarDef{name: n.text, typ: typ.text}
		if p.isPunct("!") {
			p.next()
			d.typ += "!"
		}
		defs = append(defs, d)
	}
	p.next() // )
	return defs, nil
}

func (p *gqlParser) selectionSet() ([]gqlSelection, error) {
	if err := p.punct("{"); err != nil {
		return nil, err
	}
	var sels []gqlSelection
	for !p.isPunct("}") {
		s, err := p.selection()
		if err != nil {
			return nil, err
		}
		sels = append(sels, s)
	}
	if len(sels) == 0 {
		return nil, p.fail(p.peek(), "a field")
	}
	p.next() // }
	return sels, nil
}

func (p *gqlParser) selection() (gqlSelection, error) {
	at := p.peek().at
	if p.isPunct("...") {
		p.next()
		if t := p.next(); t.kind != "name" || t.text != "on" {
			return gqlSelection{}, p.fail(t, `"on" (fragment spreads are not served)`)
		}
		typ, err := p.name()
		if err != nil {
			return gqlSelection{}, err
		}
		sel, err := p.selectionSet()
		if err != nil {
			return gqlSelection{}, err
		}
		return gqlSelection{on: typ.text, frag: sel, at: at}, nil
	}
	n, err := p.name()
	if err != nil {
		return gqlSelection{}, err
	}
	f := &gqlField{name: n.text, at: at}
	if p.isPunct(":") {
		p.next()
		real, err := p.name()
		if err != nil {
			return gqlSelection{}, err
		}
		f.alias, f.name = n.text, real.text
	}
	if p.isPunct("(") {
		p.next()
		for !p.isPunct(")") {
			an, err := p.name()
			if err != nil {
				return gqlSelection{}, err
			}
			if err := p.punct(":"); err != nil {
				return gqlSelection{}, err
			}
			var v gqlValue
			switch t := p.next(); {
			case t.kind == "string":
				v.str = t.text
			case t.kind == "punct" && t.text == "$":
				vn, err := p.name()
				if err != nil {
					return gqlSelection{}, err
				}
				v.variable = vn.text
			default:
				return gqlSelection{}, p.fail(t, "a string or a variable")
			}
			f.args = append(f.args, gqlArg{an.text, v})
		}
		p.next() // )
	}
	if p.isPunct("{") {
		sel, err := p.selectionSet()
		if err != nil {
			return gqlSelection{}, err
		}
		f.sel = sel
	}
	return gqlSelection{field: f, at: at}, nil
}
