package store

import (
	"strings"
	"unicode/utf8"
)

// Tag text (names, taggers, messages) is whatever bytes git was given:
// old repositories hold Latin-1 tagger names and messages, and git refuses
// only NUL. PostgreSQL's TEXT takes valid UTF-8 without NUL and nothing
// else, so such text is stored escaped, the same way on both databases,
// and read back byte for byte:
//
//   - text that is valid UTF-8, holds no NUL and does not begin with
//     escapedPrefix is stored as it is (nearly all of it);
//   - anything else is stored as escapedPrefix followed by the text with
//     each byte that is not part of valid UTF-8, and each NUL, written
//     \xHH (two lowercase hex digits), and each backslash written \\.
//
// So "Jos\xe9" (Latin-1 é) is stored as `hookd-bytes:Jos\xe9`, readable in
// a SQL shell. Rows written before this escaping existed are read as they
// are (they carry no prefix).
const escapedPrefix = "hookd-bytes:"

// toText is s as stored in a TEXT column.
func toText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") && !strings.HasPrefix(s, escapedPrefix) {
		return s
	}
	var b strings.Builder
	b.Grow(len(escapedPrefix) + len(s) + 8)
	b.WriteString(escapedPrefix)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == 0:
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// fromText undoes toText.
func fromText(s string) string {
	rest, ok := strings.CutPrefix(s, escapedPrefix)
	if !ok {
		return s
	}
	b := make([]byte, 0, len(rest))
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c != '\\' || i+1 >= len(rest) {
			b = append(b, c)
			continue
		}
		switch {
		case rest[i+1] == '\\':
			b = append(b, '\\')
			i++
		case rest[i+1] == 'x' && i+3 < len(rest) && isHex(rest[i+2]) && isHex(rest[i+3]):
			b = append(b, unhex(rest[i+2])<<4|unhex(rest[i+3]))
			i += 3
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}
