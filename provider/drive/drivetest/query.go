package drivetest

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// query is a parsed Drive search query (the "q" parameter of files.list). The fake supports the
// subset of the query language that file-sync clients use:
//
//	'<id>' in parents
//	name = '<s>'   name != '<s>'   name contains '<s>'    (case-insensitive, as on Drive)
//	mimeType = '<s>'   mimeType != '<s>'
//	trashed = true|false
//	appProperties has { key='<k>' and value='<v>' }   (and properties has {...})
//
// combined with and, or, not and parentheses. Strings are single-quoted with \' and \\ escapes.
type query interface {
	match(f *file) bool
}

type andQ struct{ l, r query }
type orQ struct{ l, r query }
type notQ struct{ q query }
type inParentsQ struct{ id string }
type stringQ struct {
	field, op, value string
}
type trashedQ struct{ want, neg bool }
type propsQ struct {
	app        bool
	key, value string
}

func (q andQ) match(f *file) bool { return q.l.match(f) && q.r.match(f) }
func (q orQ) match(f *file) bool  { return q.l.match(f) || q.r.match(f) }
func (q notQ) match(f *file) bool { return !q.q.match(f) }
func (q inParentsQ) match(f *file) bool {
	return f.parent == q.id || (q.id == "root" && f.inRoot)
}
func (q trashedQ) match(f *file) bool { return (f.trashed == q.want) != q.neg }
func (q propsQ) match(f *file) bool {
	m := f.props
	if q.app {
		m = f.appProps
	}
	v, ok := m[q.key]
	return ok && v == q.value
}
func (q stringQ) match(f *file) bool {
	var have string
	switch q.field {
	case "name":
		have = f.name
	case "mimeType":
		have = f.mimeType
	}
	var eq bool
	switch {
	case q.field == "name" && q.op == "contains":
		return hasPrefixFold(have, q.value)
	case q.field == "name":
		eq = strings.EqualFold(have, q.value)
	default:
		eq = have == q.value
	}
	if q.op == "!=" {
		return !eq
	}
	return eq
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// errQuery is returned for a query the fake cannot parse; Drive answers 400 "Invalid Value".
var errQuery = errors.New("invalid query")

// parseQuery parses q. The empty query matches every file.
func parseQuery(q string) (query, error) {
	p := &qparser{s: q}
	if p.skipSpace(); p.eof() {
		return matchAll{}, nil
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); !p.eof() {
		return nil, p.errorf("unexpected %q", p.rest())
	}
	return e, nil
}

type matchAll struct{}

func (matchAll) match(*file) bool { return true }

type qparser struct {
	s   string
	pos int
}

func (p *qparser) eof() bool    { return p.pos >= len(p.s) }
func (p *qparser) rest() string { return truncate(p.s[p.pos:], 20) }
func (p *qparser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errQuery, p.pos, fmt.Sprintf(format, args...))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (p *qparser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

// word reads an identifier or operator token without consuming it.
func (p *qparser) peekWord() string {
	p.skipSpace()
	i := p.pos
	if i >= len(p.s) {
		return ""
	}
	switch c := p.s[i]; {
	case c == '(' || c == ')' || c == '{' || c == '}' || c == '=':
		return p.s[i : i+1]
	case c == '!' && i+1 < len(p.s) && p.s[i+1] == '=':
		return "!="
	case c == '<' || c == '>':
		if i+1 < len(p.s) && p.s[i+1] == '=' {
			return p.s[i : i+2]
		}
		return p.s[i : i+1]
	}
	j := i
	for j < len(p.s) && (p.s[j] < 0x80 && (unicode.IsLetter(rune(p.s[j])) || unicode.IsDigit(rune(p.s[j])) || p.s[j] == '_')) {
		j++
	}
	return p.s[i:j]
}

func (p *qparser) next() string {
	w := p.peekWord()
	p.pos += len(w)
	return w
}

func (p *qparser) expect(w string) error {
	if got := p.next(); got != w {
		if got == "" && !p.eof() {
			got = p.rest()
		}
		return p.errorf("want %q, got %q", w, got)
	}
	return nil
}

func (p *qparser) parseOr() (query, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.peekWord() == "or" {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orQ{l, r}
	}
	return l, nil
}

func (p *qparser) parseAnd() (query, error) {
	l, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	for p.peekWord() == "and" {
		p.next()
		r, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		l = andQ{l, r}
	}
	return l, nil
}

func (p *qparser) parseTerm() (query, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.errorf("unexpected end of query")
	}
	if p.s[p.pos] == '\'' {
		s, err := p.parseString()
		if err != nil {
			return nil, err
		}
		if err := p.expect("in"); err != nil {
			return nil, err
		}
		if err := p.expect("parents"); err != nil {
			return nil, err
		}
		return inParentsQ{id: s}, nil
	}
	switch w := p.next(); w {
	case "(":
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return e, nil
	case "not":
		e, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		return notQ{e}, nil
	case "name", "mimeType":
		op := p.next()
		switch {
		case op == "=" || op == "!=":
		case op == "contains" && w == "name":
		default:
			return nil, p.errorf("operator %q not supported for %s", op, w)
		}
		s, err := p.parseString()
		if err != nil {
			return nil, err
		}
		return stringQ{field: w, op: op, value: s}, nil
	case "trashed":
		op := p.next()
		if op != "=" && op != "!=" {
			return nil, p.errorf("operator %q not supported for trashed", op)
		}
		var v bool
		switch b := p.next(); b {
		case "true":
			v = true
		case "false":
		default:
			return nil, p.errorf("trashed wants true or false, got %q", b)
		}
		return trashedQ{want: v, neg: op == "!="}, nil
	case "appProperties", "properties":
		if err := p.expect("has"); err != nil {
			return nil, err
		}
		if err := p.expect("{"); err != nil {
			return nil, err
		}
		if err := p.expect("key"); err != nil {
			return nil, err
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		k, err := p.parseString()
		if err != nil {
			return nil, err
		}
		if err := p.expect("and"); err != nil {
			return nil, err
		}
		if err := p.expect("value"); err != nil {
			return nil, err
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		v, err := p.parseString()
		if err != nil {
			return nil, err
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		return propsQ{app: w == "appProperties", key: k, value: v}, nil
	case "":
		return nil, p.errorf("unexpected %q", p.rest())
	default:
		return nil, p.errorf("unsupported term %q", w)
	}
}

// parseString reads a single-quoted string with \' and \\ escapes.
func (p *qparser) parseString() (string, error) {
	p.skipSpace()
	if p.eof() || p.s[p.pos] != '\'' {
		return "", p.errorf("want a quoted string")
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch c {
		case '\\':
			if p.pos+1 >= len(p.s) {
				return "", p.errorf("dangling escape")
			}
			n := p.s[p.pos+1]
			if n != '\\' && n != '\'' {
				return "", p.errorf("invalid escape \\%c", n)
			}
			b.WriteByte(n)
			p.pos += 2
		case '\'':
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf("unterminated string")
}
