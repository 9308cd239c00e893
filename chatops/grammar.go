package chatops

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/hookd-dev/hookd/access"
	"github.com/hookd-dev/hookd/change"
)

// Command is one parsed chat command.
type Command struct {
	// Name is the command's name: assign, unassign, register, deregister,
	// deprecate, show, history or help.
	Name string
	// Repository is --repo's value; "" means the default repository.
	Repository string
	// Request is a write's request (Request.Artifact is also the NAME of
	// show and history, "" when none is given).
	Request change.Request
	// Topic is the command help is asked about; "" for all.
	Topic string
}

// Operation is the write the command asks for; "" for show, history and
// help.
func (c Command) Operation() access.Operation {
	if s, ok := syntaxes[c.Name]; ok {
		return s.op
	}
	return ""
}

// UsageError is a command that does not follow the grammar. Its message
// says what is wrong; Usage is the line that says what is right.
type UsageError struct {
	Msg string
	// Command is the command whose usage applies; "" when the command
	// itself is unknown.
	Command string
}

func (e *UsageError) Error() string { return e.Msg }

// Usage is the command's usage line (every command's for "").
func (e *UsageError) Usage() string { return usage(e.Command) }

func usagef(command, format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...), Command: command}
}

// syntax is one command's grammar.
type syntax struct {
	op       access.Operation
	args     []string // positional arguments, in order
	optional int      // how many of the last args may be left out
	flags    []string // long names of the flags it takes
	summary  string
}

// writeFlags are the flags every write takes.
var writeFlags = []string{"message", "repo", "force", "simple"}

var syntaxes = map[string]syntax{
	"assign": {op: access.Assign, args: []string{"NAME", "VERSION", "STAGE"}, flags: writeFlags,
		summary: "assign a stage to a version"},
	"unassign": {op: access.Unassign, args: []string{"NAME", "VERSION", "STAGE"}, flags: writeFlags,
		summary: "take a stage away from a version"},
	"register": {op: access.Register, args: []string{"NAME", "REF"}, optional: 1,
		flags:   append([]string{"version", "bump"}, writeFlags...),
		summary: "register a version at REF (default: the default branch)"},
	"deregister": {op: access.Deregister, args: []string{"NAME", "VERSION"}, flags: writeFlags,
		summary: "deregister a version"},
	"deprecate": {op: access.Deprecate, args: []string{"NAME"}, flags: writeFlags,
		summary: "deprecate an artifact"},
	"show": {args: []string{"NAME"}, optional: 1, flags: []string{"repo"},
		summary: "the registry, or an artifact's versions (NAME, NAME#stage, NAME@latest)"},
	"history": {args: []string{"NAME"}, optional: 1, flags: []string{"repo"},
		summary: "the journal of registrations and assignments, newest first"},
	"help": {args: []string{"COMMAND"}, optional: 1, summary: "what the commands are, or how one is used"},
}

// order is the order help lists the commands in.
var order = []string{"assign", "unassign", "register", "deregister", "deprecate", "show", "history", "help"}

// flag is one flag of the grammar.
type flag struct {
	long, short string
	value       string // the value's placeholder; "" for a switch
	help        string
}

var flags = []flag{
	{long: "message", short: "m", value: `"MSG"`, help: "the tag's message"},
	{long: "repo", value: "OWNER/NAME", help: "the repository (default: chat.repository)"},
	{long: "force", help: "go past GTO's rules and the promotion order (if your scopes allow it)"},
	{long: "simple", value: "true|false", help: "simple tags (name#stage) or counted ones (name#stage#N)"},
	{long: "version", value: "vX.Y.Z", help: "the version to register"},
	{long: "bump", value: "major|minor|patch", help: "register the next version by this bump"},
}

func lookupFlag(name string) (flag, bool) {
	i := slices.IndexFunc(flags, func(f flag) bool { return f.long == name || f.short != "" && f.short == name })
	if i < 0 {
		return flag{}, false
	}
	return flags[i], true
}

// usage is the usage line of a command, or the list of all commands.
func usage(command string) string {
	s, ok := syntaxes[command]
	if !ok {
		var b strings.Builder
		for _, name := range order {
			fmt.Fprintf(&b, "%s\n", usage(name))
		}
		return strings.TrimRight(b.String(), "\n")
	}
	parts := []string{command}
	for i, a := range s.args {
		if i >= len(s.args)-s.optional {
			a = "[" + a + "]"
		}
		parts = append(parts, a)
	}
	for _, name := range s.flags {
		f, _ := lookupFlag(name)
		opt := "--" + f.long
		if f.short != "" {
			opt = "-" + f.short
		}
		if f.value != "" {
			opt += " " + f.value
		}
		parts = append(parts, "["+opt+"]")
	}
	return strings.Join(parts, " ")
}

// Parse reads a command: its name, then its arguments and flags in any
// order. A flag's value follows it (--repo acme/models) or an equals sign
// (--repo=acme/models); "--" ends the flags. See [Tokenize] for quoting.
func Parse(text string) (Command, error) {
	words, err := Tokenize(text)
	if err != nil {
		return Command{}, err
	}
	if len(words) == 0 {
		return Command{Name: "help"}, nil
	}
	name := strings.ToLower(words[0])
	s, ok := syntaxes[name]
	if !ok {
		return Command{}, usagef("", "%q is not a command", words[0])
	}
	cmd := Command{Name: name}
	var args []string
	seen := map[string]bool{}
	words = words[1:]
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			args = append(args, words[i+1:]...)
			break
		}
		key, value, hasValue, isFlag := splitFlag(w)
		if !isFlag {
			args = append(args, w)
			continue
		}
		f, ok := lookupFlag(key)
		if !ok || !slices.Contains(s.flags, f.long) {
			return Command{}, usagef(name, "%s does not take %s", name, w)
		}
		if seen[f.long] {
			return Command{}, usagef(name, "--%s is given twice", f.long)
		}
		seen[f.long] = true
		switch {
		case f.value == "" && !hasValue:
			value = "true"
		case f.value != "" && !hasValue:
			if i+1 == len(words) {
				return Command{}, usagef(name, "%s needs a value: %s %s", w, w, f.value)
			}
			i++
			value = words[i]
		}
		if err := cmd.set(f, value); err != nil {
			return Command{}, err
		}
	}
	if n := len(s.args); len(args) > n || len(args) < n-s.optional {
		if len(args) > n {
			return Command{}, usagef(name, "%s takes %s, not %q", name, argList(s), strings.Join(args[n:], " "))
		}
		return Command{}, usagef(name, "%s needs %s", name, argList(s))
	}
	for i, a := range args {
		switch s.args[i] {
		case "NAME":
			cmd.Request.Artifact = a
		case "VERSION":
			cmd.Request.Version = a
		case "STAGE":
			cmd.Request.Stage = a
		case "REF":
			cmd.Request.Ref = a
		case "COMMAND":
			cmd.Topic = strings.ToLower(a)
		}
	}
	return cmd, nil
}

func argList(s syntax) string {
	if len(s.args) == 0 {
		return "no arguments"
	}
	required, optional := s.args[:len(s.args)-s.optional], s.args[len(s.args)-s.optional:]
	parts := slices.Clone(required)
	if len(optional) > 0 {
		parts = append(parts, "["+strings.Join(optional, " ")+"]")
	}
	return strings.Join(parts, " ")
}

// splitFlag tells a flag (--name, --name=value, -m, -m=value) from an
// argument. Dashes that chat clients turn into an en or em dash ("—force")
// still make a flag. A lone "-" and negative numbers are arguments.
func splitFlag(w string) (key, value string, hasValue, isFlag bool) {
	rest, ok := strings.CutPrefix(w, "--")
	if !ok {
		rest, ok = strings.CutPrefix(w, "—")
	}
	if !ok {
		rest, ok = strings.CutPrefix(w, "–")
	}
	if !ok {
		rest, ok = strings.CutPrefix(w, "-")
	}
	if !ok || rest == "" || unicode.IsDigit([]rune(rest)[0]) {
		return "", "", false, false
	}
	key, value, hasValue = strings.Cut(rest, "=")
	return key, value, hasValue, true
}

func (c *Command) set(f flag, value string) error {
	r := &c.Request
	switch f.long {
	case "message":
		r.Message = value
	case "repo":
		if value == "" {
			return usagef(c.Name, "--repo needs a repository: --repo owner/name")
		}
		c.Repository = value
	case "force":
		switch strings.ToLower(value) {
		case "true":
			r.Force = true
		case "false":
			r.Force = false
		default:
			return usagef(c.Name, "--force takes no value (or --force=true|false), not %q", value)
		}
	case "simple":
		if err := r.Simple.UnmarshalJSON([]byte(strings.ToLower(value))); err != nil || value == "" {
			return usagef(c.Name, "--simple must be true, false or auto, not %q", value)
		}
	case "version":
		r.Version = value
	case "bump":
		r.Bump = strings.ToLower(value)
	}
	return nil
}

// quotes maps each opening quote to the quotes that close it. Chat clients
// replace typed quotes with typographic ones (“…”, ‘…’), and some close
// with the same mark they open with.
var quotes = map[rune]string{
	'"':  `"`,
	'\'': "'",
	'“':  "”“",
	'”':  "”“",
	'„':  "“”",
	'‘':  "’‘",
}

// Tokenize splits text into words at white space, as a shell would but
// without any of its expansions: it is text only. A quote opens at the
// start of a word, after "=" (--message="a b") or right after a closing
// quote; it runs to its closing quote and keeps what is inside as it is,
// white space included. Straight quotes ("…", '…') and typographic ones
// (“…”, ‘…’, „…“) are understood. Elsewhere a quote mark is a letter like
// any other, so an apostrophe needs no quoting: don't, it’s.
func Tokenize(text string) ([]string, error) {
	var (
		words   []string
		word    strings.Builder
		inWord  bool
		canOpen = true // a quote may open here
	)
	runes := []rune(text)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch closers, isQuote := quotes[r]; {
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
			canOpen = true
		case isQuote && canOpen:
			end := -1
			for j := i + 1; j < len(runes); j++ {
				if strings.ContainsRune(closers, runes[j]) {
					end = j
					break
				}
			}
			if end < 0 {
				return nil, usagef("", "the quote %c is not closed: end the text it starts with %c", r, []rune(closers)[0])
			}
			word.WriteString(string(runes[i+1 : end]))
			inWord = true
			i = end
		default:
			word.WriteRune(r)
			inWord = true
			canOpen = r == '='
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
