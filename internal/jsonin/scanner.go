package jsonin

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// syntaxError is malformed JSON at byte Offset (0-based) of the body.
type syntaxError struct{ Offset int }

func (e *syntaxError) Error() string {
	return fmt.Sprintf("jsonin: malformed JSON at byte %d", e.Offset)
}

// scanner reads JSON (RFC 8259) in place, for checkKeys: it hands out string contents as
// sub-slices of data and allocates only to unescape a string with escapes. It reports malformed
// input as a *syntaxError; encoding/json, which decodes the value afterwards, stays the judge of
// everything the walk does not look at.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) fail() error { return &syntaxError{Offset: s.pos} }

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// next skips white space and returns the byte that starts the next value, without consuming it.
func (s *scanner) next() (byte, error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0, s.fail()
	}
	return s.data[s.pos], nil
}

// end consumes the opening '{' or '[' at pos and, when the container is empty, its closing byte:
// ok reports that it was empty.
func (s *scanner) end(closing byte) (ok bool, err error) {
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == closing {
		s.pos++
		return true, nil
	}
	return false, nil
}

// more consumes the ',' before the next member (true) or the closing byte (false).
func (s *scanner) more(closing byte) (bool, error) {
	s.skipSpace()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			return true, nil
		case closing:
			s.pos++
			return false, nil
		}
	}
	return false, s.fail()
}

// colon consumes the ':' after an object key.
func (s *scanner) colon() error {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return s.fail()
	}
	s.pos++
	return nil
}

// literal consumes word (true, false or null) at pos.
func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail()
	}
	s.pos += len(word)
	return nil
}

// str consumes the string at pos (which holds '"') and returns its bytes between the quotes,
// still escaped when escaped is true (see unescape).
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	start := s.pos + 1
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return s.data[start:i], escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.data) {
				break
			}
			switch s.data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.data) || !isHex(s.data[i+1]) || !isHex(s.data[i+2]) || !isHex(s.data[i+3]) || !isHex(s.data[i+4]) {
					s.pos = i
					return nil, false, s.fail()
				}
				i += 4
			default:
				s.pos = i
				return nil, false, s.fail()
			}
		case c < 0x20:
			s.pos = i
			return nil, false, s.fail()
		}
	}
	s.pos = len(s.data)
	return nil, false, s.fail()
}

// number consumes the number at pos and returns its text: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() ([]byte, error) {
	start, i := s.pos, s.pos
	d := s.data
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		s.pos = i
		return nil, s.fail()
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return nil, s.fail()
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return nil, s.fail()
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.pos = i
	return d[start:i], nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// unescape appends to out the string raw (checked by scanner.str) with its escapes decoded as
// encoding/json decodes them: a \u escape of a lone surrogate becomes U+FFFD.
func unescape(out, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3 : i+7])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // " \ /
			out = append(out, raw[i])
		}
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c <= '9':
			r = r<<4 | rune(c-'0')
		case c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			r = r<<4 | rune(c-'a'+10)
		}
	}
	return r
}

// skip consumes the next value, checked as far as the walk needs (it is only used on data the
// walk has read before).
func (s *scanner) skip() error {
	c, err := s.next()
	if err != nil {
		return err
	}
	switch c {
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		if empty, _ := s.end(closing); empty {
			return nil
		}
		for {
			if c == '{' {
				if k, err := s.next(); err != nil || k != '"' {
					return s.fail()
				}
				if _, _, err := s.str(); err != nil {
					return err
				}
				if err := s.colon(); err != nil {
					return err
				}
			}
			if err := s.skip(); err != nil {
				return err
			}
			more, err := s.more(closing)
			if err != nil || !more {
				return err
			}
		}
	case '"':
		_, _, err := s.str()
		return err
	case 'n':
		return s.literal("null")
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	}
	_, err = s.number()
	return err
}
