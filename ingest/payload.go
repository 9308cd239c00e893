package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// parseGitHub reads the fields of gitHubPayload from a GitHub payload in one
// pass, without building the rest of the document: a push is 8–10 KB of
// commits and people hookd never looks at, and validating and decoding it
// with encoding/json was a fifth of the CPU a delivery cost. It checks the
// whole document all the same, and agrees with json.Unmarshal into
// gitHubPayload on every input (FuzzParseGitHub holds it to that): the same
// values, and an error exactly when Unmarshal gives one (a syntax error
// anywhere, or a field of the wrong type), keys matched case-insensitively
// the way Unmarshal folds them, the last duplicate winning.
func parseGitHub(b []byte) (gitHubPayload, error) {
	var p gitHubPayload
	s := payloadScanner{b: b}
	s.space()
	if s.literal("null") {
		// Unmarshal leaves the struct alone for a top-level null.
	} else if s.peek() == '{' {
		if err := s.object(1, p.field(&s)); err != nil {
			return p, err
		}
	} else {
		if err := s.skip(0); err != nil {
			return p, err
		}
		return p, s.typeError("a payload object")
	}
	s.space()
	if s.i < len(b) {
		return p, s.syntaxError("after the top-level value")
	}
	return p, nil
}

// field returns the handler of p's top-level keys.
func (p *gitHubPayload) field(s *payloadScanner) func(key []byte, depth int) error {
	return func(key []byte, depth int) error {
		switch string(key) {
		case "REF":
			return s.stringInto(&p.Ref)
		case "REF_TYPE":
			return s.stringInto(&p.RefType)
		case "AFTER":
			return s.stringInto(&p.After)
		case "DELETED":
			return s.boolInto(&p.Deleted)
		case "HEAD_COMMIT":
			return objectInto(s, depth, &p.HeadCommit, func(c *struct {
				ID string `json:"id"`
			}) func([]byte, int) error {
				return func(key []byte, depth int) error {
					if string(key) == "ID" {
						return s.stringInto(&c.ID)
					}
					return s.skip(depth)
				}
			})
		case "REPOSITORY":
			return objectInto(s, depth, &p.Repository, func(r *struct {
				FullName string `json:"full_name"`
			}) func([]byte, int) error {
				return func(key []byte, depth int) error {
					if string(key) == "FULL_NAME" {
						return s.stringInto(&r.FullName)
					}
					return s.skip(depth)
				}
			})
		}
		return s.skip(depth)
	}
}

// objectInto decodes an object into *dst as Unmarshal does into a pointer
// to a struct: null sets it nil, an object fills the struct it points to
// (a new one when nil).
func objectInto[T any](s *payloadScanner, depth int, dst **T, fields func(*T) func([]byte, int) error) error {
	if s.literal("null") {
		*dst = nil
		return nil
	}
	if s.peek() != '{' {
		if err := s.skip(depth); err != nil {
			return err
		}
		return s.typeError("an object")
	}
	if *dst == nil {
		*dst = new(T)
	}
	return s.object(depth+1, fields(*dst))
}

// maxDepth is encoding/json's limit on nested arrays and objects.
const maxDepth = 10000

// payloadScanner walks a JSON document; i is the next byte to read.
type payloadScanner struct {
	b []byte
	i int
	// keys holds the folded keys of the objects being read, outermost
	// first, as a stack: a buffer per object escaped to the heap (the key
	// is handed to a callback), twenty allocations for a push.
	keys    []byte
	keysBuf [512]byte
}

func (s *payloadScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *payloadScanner) space() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // every JSON space is at most ' ', and compact JSON has none
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// literal consumes lit (true, false, null) when it comes next.
func (s *payloadScanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

func (s *payloadScanner) syntaxError(what string) error {
	return fmt.Errorf("invalid character at offset %d %s", s.i, what)
}

func (s *payloadScanner) typeError(want string) error {
	return fmt.Errorf("value before offset %d is not %s", s.i, want)
}

// object reads an object at s.i (which is '{') whose members are at
// depth, calling field for each key (folded as Unmarshal folds it) with the
// scanner at the member's value, which field must consume. key is valid
// only during the call. A nil field checks and passes over every member,
// without folding keys nobody reads.
func (s *payloadScanner) object(depth int, field func(key []byte, depth int) error) error {
	if depth > maxDepth {
		return errors.New("exceeded max depth")
	}
	s.i++ // '{'
	s.space()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntaxError("looking for an object key")
		}
		raw, plain, err := s.rawString()
		if err != nil {
			return err
		}
		s.space()
		if s.peek() != ':' {
			return s.syntaxError("after an object key")
		}
		s.i++
		s.space()
		if field == nil {
			err = s.skip(depth)
		} else {
			err = s.member(raw, plain, depth, field)
		}
		if err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return nil
		default:
			return s.syntaxError("after an object member")
		}
	}
}

// member folds the key raw (plain: see rawString) onto the stack of keys
// and hands it to field with the scanner at the member's value.
func (s *payloadScanner) member(raw []byte, plain bool, depth int, field func(key []byte, depth int) error) error {
	if s.keys == nil {
		s.keys = s.keysBuf[:0]
	}
	start := len(s.keys)
	if plain {
		s.keys = foldASCII(s.keys, raw)
	} else {
		s.keys = foldName(s.keys, unquote(raw))
	}
	err := field(s.keys[start:len(s.keys):len(s.keys)], depth) // appends never reach into the key
	s.keys = s.keys[:start]
	return err
}

// stringInto decodes a string value into dst; null leaves dst as it is.
func (s *payloadScanner) stringInto(dst *string) error {
	switch s.peek() {
	case '"':
		raw, plain, err := s.rawString()
		if err != nil {
			return err
		}
		if plain {
			*dst = string(raw)
		} else {
			*dst = string(unquote(raw))
		}
		return nil
	case 'n':
		if s.literal("null") {
			return nil
		}
	}
	if err := s.skip(0); err != nil {
		return err
	}
	return s.typeError("a string")
}

// boolInto decodes a boolean value into dst; null leaves dst as it is.
func (s *payloadScanner) boolInto(dst *bool) error {
	switch {
	case s.literal("true"):
		*dst = true
	case s.literal("false"):
		*dst = false
	case s.literal("null"):
	default:
		if err := s.skip(0); err != nil {
			return err
		}
		return s.typeError("a boolean")
	}
	return nil
}

// skip checks and passes over one value nested in depth containers.
func (s *payloadScanner) skip(depth int) error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(depth+1, nil)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case s.literal("true"), s.literal("false"), s.literal("null"):
		return nil
	}
	return s.syntaxError("looking for a value")
}

func (s *payloadScanner) array(depth int) error {
	if depth > maxDepth {
		return errors.New("exceeded max depth")
	}
	s.i++ // '['
	s.space()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := s.skip(depth); err != nil {
			return err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			s.space()
		case ']':
			s.i++
			return nil
		default:
			return s.syntaxError("after an array element")
		}
	}
}

func (s *payloadScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// number checks JSON's number grammar.
func (s *payloadScanner) number() error {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return s.syntaxError("in a number")
	}
	if s.peek() == '.' {
		s.i++
		if s.digits() == 0 {
			return s.syntaxError("after a decimal point")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return s.syntaxError("in an exponent")
		}
	}
	return nil
}

// rawString checks the string at s.i and returns what is between its
// quotes; plain says it is printable ASCII without escapes, so the raw
// bytes are its value.
func (s *payloadScanner) rawString() (raw []byte, plain bool, err error) {
	s.i++ // '"'
	start := s.i
	plain = true
	for s.i < len(s.b) {
		s.i += plainRun(s.b[s.i:])
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, plain, nil
		case c < 0x20:
			return nil, false, s.syntaxError("in a string")
		case c == '\\':
			plain = false
			s.i++
			switch s.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for range 4 {
					if !isHex(s.peek()) {
						return nil, false, s.syntaxError("in a \\u escape")
					}
					s.i++
				}
			default:
				return nil, false, s.syntaxError("in a string escape")
			}
		default: // c >= utf8.RuneSelf, the only other byte plainRun stops at
			plain = false
			s.i++
		}
	}
	return nil, false, errors.New("unexpected end of JSON input")
}

// plainRun is how many bytes at the start of b need no look: printable
// ASCII other than '"' and '\\'. It checks eight bytes at a time (most of
// a push payload is such text: commit messages, URLs, file names) and
// finds the byte that ends the run within its eight, so that the caller
// looks only at bytes of note.
func plainRun(b []byte) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	n := 0
	for ; len(b)-n >= 8; n += 8 {
		x := binary.LittleEndian.Uint64(b[n:])
		quote := x ^ (ones * '"')
		slash := x ^ (ones * '\\')
		// A byte is flagged when it is below 0x20, is '"' or '\\' (its
		// XOR is zero), or has its high bit set. A borrow can flag a
		// byte above a flagged one, never below: the lowest flag is the
		// first byte of note.
		flagged := ((x-ones*0x20)&^x | (quote-ones)&^quote | (slash-ones)&^slash | x) & highs
		if flagged != 0 {
			return n + bits.TrailingZeros64(flagged)/8
		}
	}
	for ; n < len(b); n++ {
		if c := b[n]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	return n
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unquote decodes a checked string's escapes as Unmarshal does: each byte
// of invalid UTF-8 and each unpaired surrogate becomes U+FFFD.
func unquote(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if len(raw)-i >= 6 && raw[i] == '\\' && raw[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(raw[i+2:])); pair != unicode.ReplacementChar {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
			default:
				out = append(out, unescape(e))
				i += 2
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			out = utf8.AppendRune(out, r) // RuneError for a bad byte, as Unmarshal
			i += n
		}
	}
	return out
}

// unescape is the byte a checked one-letter escape stands for.
func unescape(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e // '"', '\\' and '/' stand for themselves
}

// hex4 reads four checked hex digits.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// foldASCII upper-cases an ASCII key, Unmarshal's folding for ASCII.
func foldASCII(out, key []byte) []byte {
	for _, c := range key {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return out
}

// foldName folds a key as Unmarshal does to match it to a field name
// (so that "ſ" matches "s", say).
func foldName(out, key []byte) []byte {
	for i := 0; i < len(key); {
		if c := key[i]; c < utf8.RuneSelf {
			out = foldASCII(out, key[i:i+1])
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		out = utf8.AppendRune(out, unicode.ToUpper(unicode.ToLower(r)))
		i += n
	}
	return out
}
