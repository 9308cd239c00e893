// Package tagparse owns the GTO tag grammar: it turns a git tag name such as
// "churn-model@v1.2.0" or "models/churn=rf#prod#3" into a [Tag] and back.
//
// It knows nothing of git, GitHub or HTTP, and depends only on the standard
// library, so every other package can afford to call it on every ref it sees.
//
// The grammar is GTO's:
//
//	name@v1.2.3      name@v1.2.3#N     registration of a version
//	name@v1.2.3!     name@v1.2.3!#N    deregistration
//	name#stage       name#stage#N      assignment of a stage
//	name#stage!      name#stage!#N     unassignment
//	name@deprecated  name@deprecated#N deprecation of the artifact
//
// An artifact that lives in a monorepo folder is named "dir:name" and written
// "dir=name" inside a tag. Versions are "v" followed by a full SemVer 2.0
// version. N is a counter, any run of ASCII digits as GTO's grammar has it
// ("#0" and "#007" included); a tag without one uses GTO's "simple" notation.
//
// Parse, for any string it accepts, satisfies Format(Parse(s)) == s. A string
// it rejects gets one of the sentinel errors below, which says why in words a
// user can act on; rejection never allocates, because hookd parses every ref
// name of every push and most of them are not GTO tags.
package tagparse

import (
	"errors"
	"math"
	"strings"
)

// Action is what a tag does to an artifact.
type Action uint8

// The actions of the GTO grammar.
const (
	Register Action = iota + 1
	Deregister
	Assign
	Unassign
	Deprecate
	// Create is the grammar's "name@created". GTO matches it but never
	// creates or indexes it, so hookd parses it and then leaves it alone.
	Create
)

var actionNames = [...]string{"", "register", "deregister", "assign", "unassign", "deprecate", "create"}

var eventNames = [...]string{"", "registration", "deregistration", "assignment", "unassignment", "deprecation", ""}

// String is the action's name as GTO spells it ("register", "assign", ...).
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Event is the name of the lifecycle event the action produces
// ("registration", "assignment", ...); "" for Create, which produces none.
func (a Action) Event() string {
	if int(a) < len(eventNames) {
		return eventNames[a]
	}
	return ""
}

// Tag is a parsed GTO tag name.
type Tag struct {
	// Artifact is the artifact's name as GTO shows it: "name", or
	// "dir:name" for an artifact in a monorepo folder.
	Artifact string
	Action   Action
	// Version is set for Register and Deregister ("v1.2.3").
	Version string
	// Stage is set for Assign and Unassign.
	Stage string
	// Counter is the value of the "#N" suffix ("#007" is 7); it is
	// math.MaxInt for a counter too long for an int.
	Counter int
	// CounterText is the suffix's digits as written, leading zeros kept
	// ("007"), so that Format gives back the name Parse read. "" with
	// Counter 0 is the simple notation; Format writes Counter when
	// CounterText is "" and Counter is above 0.
	CounterText string
}

// HasCounter reports whether the tag carries a "#N" counter: "#0" does,
// the simple notation does not.
func (t Tag) HasCounter() bool { return t.CounterText != "" || t.Counter > 0 }

// Why a string is not a GTO tag. Each is returned as is (never wrapped) so
// that rejecting a string costs no allocation; callers add the tag name.
var (
	ErrNotGTO     = errors.New("not a GTO tag: expected name@vX.Y.Z, name#stage or name@deprecated")
	ErrEmptyName  = errors.New("artifact name is empty")
	ErrName       = errors.New("artifact name must start and end with a letter or digit and contain only letters, digits, '-', '_' and '/'")
	ErrFolder     = errors.New("artifact folder (before '=' in a tag, ':' in a name) must be letters, digits, '-', '_', '.' and '/'")
	ErrVersion    = errors.New("version must be v-prefixed SemVer like v1.2.3")
	ErrStage      = errors.New("stage must start and end with a letter or digit and contain only letters, digits, '-', '_' and '/'")
	ErrCounter    = errors.New("counter must be digits, as in name#stage#3")
	ErrTrailing   = errors.New("unexpected text after the tag: only '!' (cancel) and '#N' (counter) may follow")
	ErrCancelWhat = errors.New("only a version or a stage can be cancelled with '!'")
)

// Parse parses a git tag name. It returns one of the package's sentinel
// errors when s is not a GTO tag.
func Parse(s string) (Tag, error) {
	var t Tag
	i := indexEither(s, '@', '#')
	if i < 0 {
		return t, ErrNotGTO
	}
	if err := checkArtifactInTag(s[:i]); err != nil {
		return t, err
	}
	rest := s[i+1:]
	if s[i] == '@' {
		switch {
		case hasWord(rest, "deprecated"):
			t.Action, rest = Deprecate, rest[len("deprecated"):]
		case hasWord(rest, "created"):
			t.Action, rest = Create, rest[len("created"):]
		default:
			end := indexEither(rest, '!', '#')
			if end < 0 {
				end = len(rest)
			}
			if !IsVersion(rest[:end]) {
				return Tag{}, ErrVersion
			}
			t.Action, t.Version, rest = Register, rest[:end], rest[end:]
			if rest != "" && rest[0] == '!' {
				t.Action, rest = Deregister, rest[1:]
			}
		}
	} else {
		end := indexEither(rest, '!', '#')
		if end < 0 {
			end = len(rest)
		}
		if !isName(rest[:end]) {
			return Tag{}, ErrStage
		}
		t.Action, t.Stage, rest = Assign, rest[:end], rest[end:]
		if rest != "" && rest[0] == '!' {
			t.Action, rest = Unassign, rest[1:]
		}
	}
	if rest != "" {
		switch rest[0] {
		case '#':
			n, ok := parseCounter(rest[1:])
			if !ok {
				return Tag{}, ErrCounter
			}
			t.Counter, t.CounterText = n, rest[1:]
		case '!':
			return Tag{}, ErrCancelWhat
		default:
			return Tag{}, ErrTrailing
		}
	}
	t.Artifact = tagToName(s[:i])
	return t, nil
}

// indexEither is strings.IndexAny for two ASCII bytes, without its set
// building: Parse runs on every ref of every push.
func indexEither(s string, a, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == a || s[i] == b {
			return i
		}
	}
	return -1
}

// hasWord reports whether rest starts with word followed by the end, '#' or
// '!' (which Parse then rejects with a precise reason).
func hasWord(rest, word string) bool {
	return strings.HasPrefix(rest, word) && (len(rest) == len(word) || rest[len(word)] == '#' || rest[len(word)] == '!')
}

// parseCounter reads GTO's counter, [0-9]+: leading zeros are allowed, and
// a value too large for an int saturates (the text keeps it exactly).
func parseCounter(s string) (int, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		d := int(s[i] - '0')
		if n > (math.MaxInt-d)/10 {
			return math.MaxInt, true
		}
		n = n*10 + d
	}
	return n, true
}

// CompareCounters compares two counters written in digits by value,
// whatever their length or leading zeros: "007" and "7" are equal.
func CompareCounters(a, b string) int {
	return compareNumeric(strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0"))
}

// NextCounter is the counter after n (digits, "" for none): GTO writes one
// more than the highest counter, without leading zeros, so after "007"
// comes "8" and after "" comes "1".
func NextCounter(n string) string {
	d := []byte(strings.TrimLeft(n, "0"))
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] < '9' {
			d[i]++
			return string(d)
		}
		d[i] = '0'
	}
	return "1" + string(d)
}

// Format writes t as a tag name. It does not validate t: use [Tag.Validate]
// for values that did not come from Parse.
func Format(t Tag) string {
	var b strings.Builder
	b.Grow(len(t.Artifact) + len(t.Version) + len(t.Stage) + 16)
	b.WriteString(NameToTag(t.Artifact))
	switch t.Action {
	case Register, Deregister:
		b.WriteByte('@')
		b.WriteString(t.Version)
	case Assign, Unassign:
		b.WriteByte('#')
		b.WriteString(t.Stage)
	case Deprecate:
		b.WriteString("@deprecated")
	case Create:
		b.WriteString("@created")
	}
	if t.Action == Deregister || t.Action == Unassign {
		b.WriteByte('!')
	}
	switch {
	case t.CounterText != "":
		b.WriteByte('#')
		b.WriteString(t.CounterText)
	case t.Counter > 0:
		b.WriteByte('#')
		writeInt(&b, t.Counter)
	}
	return b.String()
}

func writeInt(b *strings.Builder, n int) {
	var digits [20]byte
	i := len(digits)
	for {
		i--
		digits[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	b.Write(digits[i:])
}

// String is Format(t).
func (t Tag) String() string { return Format(t) }

// Validate reports why t could not be written as a GTO tag, or nil.
func (t Tag) Validate() error {
	if err := ValidateName(t.Artifact); err != nil {
		return err
	}
	switch t.Action {
	case Register, Deregister:
		if err := ValidateVersion(t.Version); err != nil {
			return err
		}
	case Assign, Unassign:
		if err := ValidateStage(t.Stage); err != nil {
			return err
		}
	case Deprecate, Create:
	default:
		return ErrNotGTO
	}
	if t.Counter < 0 || t.CounterText != "" && !isDigits(t.CounterText) {
		return ErrCounter
	}
	return nil
}

// ValidateName checks an artifact name as a user writes it: "name" or
// "dir:name".
func ValidateName(name string) error {
	if strings.ContainsRune(name, '=') {
		return ErrName
	}
	return checkArtifactInTag(NameToTag(name))
}

// ValidateStage checks a stage name.
func ValidateStage(stage string) error {
	if !isName(stage) {
		return ErrStage
	}
	return nil
}

// ValidateVersion checks a version name ("v" + SemVer 2.0).
func ValidateVersion(v string) error {
	if !IsVersion(v) {
		return ErrVersion
	}
	return nil
}

// checkArtifactInTag checks the artifact part of a tag: an optional
// "dir=" folder and a name.
func checkArtifactInTag(a string) error {
	if a == "" {
		return ErrEmptyName
	}
	name := a
	if eq := strings.IndexByte(a, '='); eq >= 0 {
		dir := a[:eq]
		name = a[eq+1:]
		if dir == "" || !isFolder(dir) {
			return ErrFolder
		}
	}
	if name == "" {
		return ErrEmptyName
	}
	if !isName(name) {
		return ErrName
	}
	return nil
}

// NameToTag writes an artifact name as it appears in a tag ("dir:name" →
// "dir=name").
func NameToTag(name string) string {
	if strings.IndexByte(name, ':') < 0 {
		return name
	}
	return strings.Replace(name, ":", "=", 1)
}

func tagToName(a string) string {
	eq := strings.IndexByte(a, '=')
	if eq < 0 {
		return a
	}
	var b strings.Builder // one allocation; concatenation costs more here
	b.Grow(len(a))
	b.WriteString(a[:eq])
	b.WriteByte(':')
	b.WriteString(a[eq+1:])
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isName matches GTO's [a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?, used for
// artifact and stage names.
func isName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '/' && c != '_' {
			return false
		}
	}
	return true
}

// isFolder matches GTO's [a-zA-Z0-9-_./]+.
func isFolder(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != '/' {
			return false
		}
	}
	return s != ""
}
