package formats

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// CSVOptions describe a delimited text file.
type CSVOptions struct {
	// Delimiter separates fields; 0 means ','. TPC-H's .tbl files use '|'
	// (with one after the last field, which is accepted).
	Delimiter rune
	// Quote starts and ends a quoted field (RFC 4180: a doubled quote inside
	// is one quote); 0 means '"'. A quoted field cannot hold a line break:
	// files are split at line starts.
	Quote rune
	// NoQuoting reads quote characters as any other.
	NoQuoting bool
	// Header: the first line of each file names its columns.
	Header bool
	// Columns names the columns in file order when there is no header.
	// Without Header or Columns, columns map to the fields in order.
	Columns []string
}

// CSV is the CSV format of records T. It is immutable and safe for
// concurrent use; Bind makes a decoder per file.
type CSV[T any] struct {
	fs           *fields
	opts         CSVOptions
	delim, quote string
}

// NewCSV checks o and T (a struct of fields readable from text; the fields
// of a nested struct are columns "Outer.Inner", see flatFieldsOf).
func NewCSV[T any](o CSVOptions) (*CSV[T], error) {
	fs, err := flatFieldsOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	for _, f := range fs.list {
		if f.kind == kindOther {
			return nil, fmt.Errorf("%w: field %s.%s is a %s (CSV fields are numbers, bools, strings, []byte, time.Time, time.Duration)",
				ErrUnsupportedType, fs.typ, f.goName, f.typ)
		}
	}
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.Quote == 0 {
		o.Quote = '"'
	}
	bad := func(r rune) bool { return r == '\n' || r == '\r' || r == utf8.RuneError || !utf8.ValidRune(r) }
	if bad(o.Delimiter) || !o.NoQuoting && (bad(o.Quote) || o.Quote == o.Delimiter) {
		return nil, fmt.Errorf("formats: CSV delimiter %q and quote %q must be distinct characters other than line breaks", o.Delimiter, o.Quote)
	}
	if o.Header && len(o.Columns) > 0 {
		return nil, fmt.Errorf("formats: CSV options set both Header and Columns")
	}
	c := &CSV[T]{fs: fs, opts: o, delim: string(o.Delimiter), quote: string(o.Quote)}
	if o.NoQuoting {
		c.quote = ""
	}
	return c, nil
}

// Options returns the options the format was made with (defaults filled in).
func (c *CSV[T]) Options() CSVOptions { return c.opts }

// Bind returns the decoder of one file. header is the file's first line
// when the options say it has one (nil otherwise).
func (c *CSV[T]) Bind(header []byte) (*CSVDecoder[T], error) {
	d := &CSVDecoder[T]{c: c}
	var names []string
	switch {
	case c.opts.Header:
		var err error
		names, err = c.split(string(header), nil)
		if err != nil {
			return nil, fmt.Errorf("%w: header: %w", ErrMapping, err)
		}
	case len(c.opts.Columns) > 0:
		names = c.opts.Columns
	default:
		d.cols = make([]int, len(c.fs.list))
		for i := range d.cols {
			d.cols[i] = i
		}
		return d, nil
	}
	d.cols = make([]int, len(names))
	seen := make([]bool, len(c.fs.list))
	for i, n := range names {
		d.cols[i] = -1
		if k, ok := c.fs.lookup(n); ok {
			if seen[k] {
				return nil, fmt.Errorf("%w: two columns are named %q", ErrMapping, n)
			}
			d.cols[i], seen[k] = k, true
		}
	}
	var missing []string
	for k, ok := range seen {
		if !ok {
			missing = append(missing, c.fs.list[k].name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no column for field(s) %s of %s (columns: %s)", ErrMapping,
			strings.Join(missing, ", "), c.fs.typ, clip(strings.Join(names, string(c.opts.Delimiter))))
	}
	return d, nil
}

// CSVDecoder decodes the lines of one file. It is not safe for concurrent use.
type CSVDecoder[T any] struct {
	c    *CSV[T]
	cols []int // file column -> field index, -1: not read
	buf  []string
}

// Decode parses line (without its line break) into v. Fields without a
// value keep their zero value. The error says which column failed and why.
func (d *CSVDecoder[T]) Decode(line []byte, v *T) error {
	s := string(line) // one copy per record; string fields share it
	var err error
	d.buf, err = d.c.split(s, d.buf[:0])
	if err != nil {
		return err
	}
	vals := d.buf
	if len(vals) == len(d.cols)+1 && vals[len(vals)-1] == "" { // a delimiter after the last field (TPC-H .tbl)
		vals = vals[:len(d.cols)]
	}
	if len(vals) != len(d.cols) {
		return fmt.Errorf("%d fields, want %d", len(vals), len(d.cols))
	}
	base := unsafe.Pointer(v)
	for i, k := range d.cols {
		if k < 0 {
			continue
		}
		f := &d.c.fs.list[k]
		if err := f.setText(unsafe.Add(base, f.off), vals[i], true); err != nil {
			return fmt.Errorf("column %d (%s): %w", i+1, f.name, err)
		}
	}
	return nil
}

// split appends the fields of line s to dst.
func (c *CSV[T]) split(s string, dst []string) ([]string, error) {
	for {
		if c.quote != "" && strings.HasPrefix(s, c.quote) {
			val, rest, err := c.quoted(s[len(c.quote):])
			if err != nil {
				return dst, fmt.Errorf("field %d: %w", len(dst)+1, err)
			}
			dst = append(dst, val)
			if rest == "" {
				return dst, nil
			}
			s = rest[len(c.delim):]
			continue
		}
		i := strings.Index(s, c.delim)
		if i < 0 {
			return append(dst, s), nil
		}
		dst = append(dst, s[:i])
		s = s[i+len(c.delim):]
	}
}

// quoted reads a quoted field from s (after its opening quote): its value
// and what follows it ("" at the end of the line, else starting with the
// delimiter).
func (c *CSV[T]) quoted(s string) (val, rest string, err error) {
	var b strings.Builder
	for {
		i := strings.Index(s, c.quote)
		if i < 0 {
			return "", "", fmt.Errorf("quoted field not closed on its line")
		}
		after := s[i+len(c.quote):]
		if strings.HasPrefix(after, c.quote) { // doubled: one quote character
			b.WriteString(s[:i+len(c.quote)])
			s = after[len(c.quote):]
			continue
		}
		if after != "" && !strings.HasPrefix(after, c.delim) {
			return "", "", fmt.Errorf("text after the closing quote")
		}
		if b.Len() == 0 {
			return s[:i], after, nil
		}
		b.WriteString(s[:i])
		return b.String(), after, nil
	}
}

// AppendHeader appends the names of T's columns, in order, as one line.
func (c *CSV[T]) AppendHeader(b []byte) []byte {
	for i, f := range c.fs.list {
		if i > 0 {
			b = append(b, c.delim...)
		}
		b = c.appendField(b, f.name)
	}
	return append(b, '\n')
}

// AppendRecord appends v as one line, its columns in order, as Decode
// reads them back: numbers as strconv formats them (floats in the shortest
// form that reads back exactly), a time.Time at midnight UTC as YYYY-MM-DD
// and others in RFC 3339, the zero time empty, []byte as its bytes. A field
// holding the delimiter, the quote, a line break, or starting with a space
// is quoted as RFC 4180 says (a quote inside doubled), whatever NoQuoting
// says; a field that holds a line break cannot be read back by Decode.
func (c *CSV[T]) AppendRecord(b []byte, v *T) []byte {
	base := unsafe.Pointer(v)
	for i := range c.fs.list {
		if i > 0 {
			b = append(b, c.delim...)
		}
		f := &c.fs.list[i]
		start := len(b)
		b = f.appendText(b, unsafe.Add(base, f.off), true)
		if txt := b[start:]; c.needsQuotes(txt) { // any field: a delimiter may be a digit
			q := append([]byte(nil), txt...) // the field, before quoting over it
			b = c.appendQuoted(b[:start], q)
		}
	}
	return append(b, '\n')
}

func (c *CSV[T]) appendField(b []byte, s string) []byte {
	if c.needsQuotes([]byte(s)) {
		return c.appendQuoted(b, []byte(s))
	}
	return append(b, s...)
}

func (c *CSV[T]) needsQuotes(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' {
		return true
	}
	if d, q := c.opts.Delimiter, c.opts.Quote; d < utf8.RuneSelf && q < utf8.RuneSelf { // one pass over the bytes
		for _, b := range s {
			if b == byte(d) || b == byte(q) || b == '\n' || b == '\r' {
				return true
			}
		}
		return false
	}
	return bytes.ContainsAny(s, "\r\n") || bytes.ContainsRune(s, c.opts.Delimiter) || bytes.ContainsRune(s, c.opts.Quote)
}

func (c *CSV[T]) appendQuoted(b, s []byte) []byte {
	q := string(c.opts.Quote)
	b = append(b, q...)
	for len(s) > 0 {
		i := strings.Index(string(s), q)
		if i < 0 {
			b = append(b, s...)
			break
		}
		b = append(b, s[:i+len(q)]...)
		b = append(b, q...)
		s = s[i+len(q):]
	}
	return append(b, q...)
}
