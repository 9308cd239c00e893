package tagparse

import (
	"strconv"
	"strings"
)

// IsVersion reports whether v is a GTO version: "v" followed by a SemVer 2.0
// version, pre-release and build metadata allowed ("v1.2.3-rc.1+build.5").
func IsVersion(v string) bool {
	if len(v) < 6 || v[0] != 'v' {
		return false
	}
	core, pre, build := splitSemver(v[1:])
	return isCore(core) && (pre == "" || validIdents(pre, true)) && (build == "" || validIdents(build, false))
}

// splitSemver splits "1.2.3-pre+build" into its parts. A "-" or "+" with an
// empty part after it yields a part that fails validation ("\x00").
func splitSemver(s string) (core, pre, build string) {
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s, build = s[:i], s[i+1:]
		if build == "" {
			build = "\x00"
		}
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s, pre = s[:i], s[i+1:]
		if pre == "" {
			pre = "\x00"
		}
	}
	return s, pre, build
}

func isCore(s string) bool {
	for n := 0; n < 3; n++ {
		end := strings.IndexByte(s, '.')
		if n == 2 {
			end = len(s)
		} else if end < 0 {
			return false
		}
		if !isNumericIdent(s[:end]) {
			return false
		}
		if n < 2 {
			s = s[end+1:]
		}
	}
	return true
}

// isNumericIdent matches 0|[1-9][0-9]*.
func isNumericIdent(s string) bool {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated identifiers of [0-9A-Za-z-]; in a
// pre-release, purely numeric identifiers may not have leading zeros.
func validIdents(s string, pre bool) bool {
	for {
		end := strings.IndexByte(s, '.')
		id := s
		if end >= 0 {
			id = s[:end]
		}
		if id == "" {
			return false
		}
		numeric := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case isAlnum(c) || c == '-':
				numeric = false
			default:
				return false
			}
		}
		if pre && numeric && !isNumericIdent(id) {
			return false
		}
		if end < 0 {
			return true
		}
		s = s[end+1:]
	}
}

// CompareVersions orders two valid versions by SemVer 2.0 precedence:
// negative when a < b, zero when they have equal precedence (build metadata
// is ignored, as SemVer and GTO do), positive when a > b.
func CompareVersions(a, b string) int {
	ac, ap, _ := splitSemver(strings.TrimPrefix(a, "v"))
	bc, bp, _ := splitSemver(strings.TrimPrefix(b, "v"))
	for n := 0; n < 3; n++ {
		var x, y string
		x, ac, _ = strings.Cut(ac, ".")
		y, bc, _ = strings.Cut(bc, ".")
		if c := compareNumeric(x, y); c != 0 {
			return c
		}
	}
	switch {
	case ap == "" && bp == "":
		return 0
	case ap == "":
		return 1 // a release outranks its pre-releases
	case bp == "":
		return -1
	}
	for {
		var x, y string
		var moreA, moreB bool
		x, ap, moreA = strings.Cut(ap, ".")
		y, bp, moreB = strings.Cut(bp, ".")
		if c := comparePreIdent(x, y); c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1 // fewer identifiers: lower precedence
		case !moreB:
			return 1
		}
	}
}

func compareNumeric(x, y string) int {
	if len(x) != len(y) {
		return len(x) - len(y)
	}
	return strings.Compare(x, y)
}

func comparePreIdent(x, y string) int {
	xn, yn := isDigits(x), isDigits(y)
	switch {
	case xn && yn:
		return compareNumeric(x, y)
	case xn:
		return -1 // numeric identifiers sort before alphanumeric ones
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Bump is which part of a version to increase.
type Bump uint8

// The parts of a version Bump can increase.
const (
	BumpPatch Bump = iota + 1
	BumpMinor
	BumpMajor
)

// BumpVersion returns the version after v with the given part increased and
// the parts after it reset; pre-release and build metadata are dropped, as
// GTO's `register --bump-*` does. v must be valid.
func BumpVersion(v string, part Bump) string {
	core, _, _ := splitSemver(strings.TrimPrefix(v, "v"))
	var nums [3]int
	for n := range nums {
		var x string
		x, core, _ = strings.Cut(core, ".")
		nums[n], _ = strconv.Atoi(x)
	}
	switch part {
	case BumpMajor:
		nums = [3]int{nums[0] + 1, 0, 0}
	case BumpMinor:
		nums = [3]int{nums[0], nums[1] + 1, 0}
	default:
		nums[2]++
	}
	return "v" + strconv.Itoa(nums[0]) + "." + strconv.Itoa(nums[1]) + "." + strconv.Itoa(nums[2])
}

// Shortcut is how users name what they mean on the command line:
// "name", "name@v1.2.3", "name@latest" (or "@greatest") and "name#stage".
type Shortcut struct {
	Artifact string
	Version  string
	Stage    string
	Latest   bool
}

// ParseShortcut splits a command-line reference to an artifact. ok is
// false when s has no "@" or "#" part, in which case the whole of s is the
// artifact name.
func ParseShortcut(s string) (sc Shortcut, ok bool, err error) {
	i := indexEither(s, '@', '#')
	if i < 0 {
		return Shortcut{Artifact: s}, false, nil
	}
	sc.Artifact = s[:i]
	if err := ValidateName(sc.Artifact); err != nil {
		return Shortcut{}, false, err
	}
	rest := s[i+1:]
	switch {
	case s[i] == '#':
		if !isName(rest) {
			return Shortcut{}, false, ErrStage
		}
		sc.Stage = rest
	case rest == "latest" || rest == "greatest":
		sc.Latest = true
	case IsVersion(rest):
		sc.Version = rest
	default:
		return Shortcut{}, false, ErrVersion
	}
	return sc, true, nil
}
