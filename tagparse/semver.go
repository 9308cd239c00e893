package tagparse

import (
	"strconv"
	"strings"
)

// IsVersion reports whether v is a GTO version: "v" followed by a SemVer 2.0
// version, pre-release and build metadata allowed ("v1.2.3-rc.1+build.5").
// It scans v once: Parse calls it for every ref that looks like a
// registration.
func IsVersion(v string) bool {
	if len(v) < 6 || v[0] != 'v' {
		return false
	}
	i := 1
	for n := range 3 { // major.minor.patch: numbers without leading zeros
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start || (v[start] == '0' && i-start > 1) {
			return false
		}
		if n < 2 {
			if i == len(v) || v[i] != '.' {
				return false
			}
			i++
		}
	}
	ok := true
	if i < len(v) && v[i] == '-' {
		i, ok = scanIdents(v, i+1, true)
	}
	if ok && i < len(v) && v[i] == '+' {
		i, ok = scanIdents(v, i+1, false)
	}
	return ok && i == len(v)
}

// scanIdents scans dot-separated identifiers of [0-9A-Za-z-] from i, up to
// a '+' or the end, and returns where it stopped. In a pre-release, a purely
// numeric identifier may not have leading zeros.
func scanIdents(v string, i int, pre bool) (int, bool) {
	for {
		start, numeric := i, true
		for ; i < len(v) && v[i] != '.' && v[i] != '+'; i++ {
			switch c := v[i]; {
			case c >= '0' && c <= '9':
			case isAlnum(c) || c == '-':
				numeric = false
			default:
				return i, false
			}
		}
		if i == start || (pre && numeric && v[start] == '0' && i-start > 1) {
			return i, false
		}
		if i == len(v) || v[i] == '+' {
			return i, true
		}
		i++ // the '.'
	}
}

// splitSemver splits "1.2.3-pre+build" into its parts; v must be valid.
func splitSemver(s string) (core, pre, build string) {
	s, build, _ = strings.Cut(s, "+")
	core, pre, _ = strings.Cut(s, "-")
	return core, pre, build
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
