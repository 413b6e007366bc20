package formats

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Sentinel errors.
var (
	// ErrUnsupportedType: a record type or one of its fields cannot be read
	// or written by a format.
	ErrUnsupportedType = errors.New("formats: unsupported record type")
	// ErrMapping: the file's columns do not fit the record type (a field
	// without a column, a column of a type the field cannot take).
	ErrMapping = errors.New("formats: columns do not match the record type")
	// ErrMalformed is wrapped by every RecordError.
	ErrMalformed = errors.New("malformed record")
)

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

// kind is what a field holds, as the decoders see it.
type kind uint8

const (
	kindOther kind = iota // not readable from text (nested structs, slices, maps...)
	kindBool
	kindInt
	kindUint
	kindFloat
	kindString
	kindBytes
	kindTime
	kindDuration
)

// field is one exported field of a record type.
type field struct {
	name   string // as declared (tag or Go name)
	lower  string // name, lower-cased, for matching
	goName string
	off    uintptr
	typ    reflect.Type
	kind   kind
	bits   int // of ints, uints and floats
}

// fields is the field list of a record type T.
type fields struct {
	typ    reflect.Type
	list   []field
	byName map[string]int // lower-cased name -> index in list
}

// fieldsOf lists the fields of struct type t.
func fieldsOf(t reflect.Type) (*fields, error) { return listFields(t, false) }

// flatFieldsOf lists the fields of struct type t, and in place of a field
// that is itself a struct (not time.Time) the fields of that struct, named
// "Outer.Inner" (an embedded struct's fields keep their own names, as Go
// promotes them): the columns of a flat format such as CSV.
func flatFieldsOf(t reflect.Type) (*fields, error) { return listFields(t, true) }

func listFields(t reflect.Type, flatten bool) (*fields, error) {
	if t.Kind() != reflect.Struct || t == timeType {
		return nil, fmt.Errorf("%w: %s is not a struct", ErrUnsupportedType, t)
	}
	fs := &fields{typ: t, byName: map[string]int{}}
	if err := fs.add(t, "", 0, flatten, 0); err != nil {
		return nil, err
	}
	if len(fs.list) == 0 {
		return nil, fmt.Errorf("%w: %s has no exported fields", ErrUnsupportedType, t)
	}
	return fs, nil
}

// add lists the fields of struct t, which starts off bytes into the record,
// with names after prefix.
func (fs *fields) add(t reflect.Type, prefix string, off uintptr, flatten bool, depth int) error {
	if depth > 16 {
		return fmt.Errorf("%w: %s nests structs too deeply", ErrUnsupportedType, fs.typ)
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("floe")
		promoted := flatten && sf.Anonymous && tag == "" && sf.Type.Kind() == reflect.Struct // its exported fields are T's, as in Go
		if tag == "-" || !sf.IsExported() && tag == "" && !promoted {
			continue
		}
		if !sf.IsExported() && !promoted {
			return fmt.Errorf("%w: unexported field %s.%s has a floe tag", ErrUnsupportedType, t, sf.Name)
		}
		name := sf.Name
		if tag != "" {
			name = tag
		} else if j, _, _ := strings.Cut(sf.Tag.Get("json"), ","); j != "" && j != "-" {
			name = j
		}
		if flatten && sf.Type.Kind() == reflect.Struct && kindOf(sf.Type) == kindOther {
			inner := prefix + name + "."
			if sf.Anonymous && tag == "" {
				inner = prefix
			}
			if err := fs.add(sf.Type, inner, off+sf.Offset, flatten, depth+1); err != nil {
				return err
			}
			continue
		}
		name = prefix + name
		f := field{name: name, lower: strings.ToLower(name), goName: prefix + sf.Name, off: off + sf.Offset, typ: sf.Type, kind: kindOf(sf.Type)}
		switch f.kind {
		case kindInt, kindUint, kindFloat:
			f.bits = sf.Type.Bits()
		}
		if _, dup := fs.byName[f.lower]; dup {
			return fmt.Errorf("%w: two fields of %s are named %q (names match case-insensitively)", ErrUnsupportedType, fs.typ, name)
		}
		fs.byName[f.lower] = len(fs.list)
		fs.list = append(fs.list, f)
	}
	return nil
}

func kindOf(t reflect.Type) kind {
	switch t {
	case timeType:
		return kindTime
	case durationType:
		return kindDuration
	}
	switch t.Kind() {
	case reflect.Bool:
		return kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return kindUint
	case reflect.Float32, reflect.Float64:
		return kindFloat
	case reflect.String:
		return kindString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return kindBytes
		}
	}
	return kindOther
}

// lookup returns the field named name (case-insensitively).
func (fs *fields) lookup(name string) (int, bool) {
	i, ok := fs.byName[strings.ToLower(strings.TrimSpace(name))]
	return i, ok
}

// setInt stores v into the int field at p, refusing values out of its range.
func (f *field) setInt(p unsafe.Pointer, v int64) error {
	switch f.bits {
	case 8:
		if v < math.MinInt8 || v > math.MaxInt8 {
			return errRange(v, f)
		}
		*(*int8)(p) = int8(v)
	case 16:
		if v < math.MinInt16 || v > math.MaxInt16 {
			return errRange(v, f)
		}
		*(*int16)(p) = int16(v)
	case 32:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return errRange(v, f)
		}
		*(*int32)(p) = int32(v)
	default:
		*(*int64)(p) = v
	}
	return nil
}

func (f *field) setUint(p unsafe.Pointer, v uint64) error {
	switch f.bits {
	case 8:
		if v > math.MaxUint8 {
			return errRange(v, f)
		}
		*(*uint8)(p) = uint8(v)
	case 16:
		if v > math.MaxUint16 {
			return errRange(v, f)
		}
		*(*uint16)(p) = uint16(v)
	case 32:
		if v > math.MaxUint32 {
			return errRange(v, f)
		}
		*(*uint32)(p) = uint32(v)
	default:
		*(*uint64)(p) = v
	}
	return nil
}

func (f *field) setFloat(p unsafe.Pointer, v float64) {
	if f.bits == 32 {
		*(*float32)(p) = float32(v)
	} else {
		*(*float64)(p) = v
	}
}

func errRange(v any, f *field) error {
	return fmt.Errorf("%v is out of the range of %s", v, f.typ)
}

// zero clears the field at p.
func (f *field) zero(p unsafe.Pointer) {
	reflect.NewAt(f.typ, p).Elem().SetZero()
}

// setText parses s into the field at p. Empty text is the zero value.
// []byte takes the bytes of s when raw, else base64 (JSON's convention).
func (f *field) setText(p unsafe.Pointer, s string, raw bool) error {
	if s == "" {
		f.zero(p)
		return nil
	}
	switch f.kind {
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a bool: %q", clip(s))
		}
		*(*bool)(p) = b
	case kindInt:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", clip(s))
		}
		return f.setInt(p, v)
	case kindUint:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an unsigned integer: %q", clip(s))
		}
		return f.setUint(p, v)
	case kindFloat:
		v, err := strconv.ParseFloat(s, f.bits)
		if err != nil {
			return fmt.Errorf("not a number: %q", clip(s))
		}
		f.setFloat(p, v)
	case kindString:
		*(*string)(p) = s
	case kindBytes:
		if raw {
			*(*[]byte)(p) = []byte(s)
			return nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("not base64: %q", clip(s))
		}
		*(*[]byte)(p) = b
	case kindTime:
		t, err := ParseTime(s)
		if err != nil {
			return err
		}
		*(*time.Time)(p) = t
	case kindDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration: %q", clip(s))
		}
		*(*time.Duration)(p) = d
	default:
		return fmt.Errorf("%w: %s cannot be read from text", ErrUnsupportedType, f.typ)
	}
	return nil
}

// appendText formats the field at p the way setText reads it back.
func (f *field) appendText(b []byte, p unsafe.Pointer, raw bool) []byte {
	switch f.kind {
	case kindBool:
		return strconv.AppendBool(b, *(*bool)(p))
	case kindInt:
		var v int64
		switch f.bits {
		case 8:
			v = int64(*(*int8)(p))
		case 16:
			v = int64(*(*int16)(p))
		case 32:
			v = int64(*(*int32)(p))
		default:
			v = *(*int64)(p)
		}
		return strconv.AppendInt(b, v, 10)
	case kindUint:
		var v uint64
		switch f.bits {
		case 8:
			v = uint64(*(*uint8)(p))
		case 16:
			v = uint64(*(*uint16)(p))
		case 32:
			v = uint64(*(*uint32)(p))
		default:
			v = *(*uint64)(p)
		}
		return strconv.AppendUint(b, v, 10)
	case kindFloat:
		if f.bits == 32 {
			return strconv.AppendFloat(b, float64(*(*float32)(p)), 'f', -1, 32)
		}
		return strconv.AppendFloat(b, *(*float64)(p), 'f', -1, 64)
	case kindString:
		return append(b, *(*string)(p)...)
	case kindBytes:
		if raw {
			return append(b, *(*[]byte)(p)...)
		}
		return base64.StdEncoding.AppendEncode(b, *(*[]byte)(p))
	case kindTime:
		return AppendTime(b, *(*time.Time)(p))
	case kindDuration:
		return append(b, (*(*time.Duration)(p)).String()...)
	}
	return fmt.Appendf(b, "%v", reflect.NewAt(f.typ, p).Elem().Interface())
}

// ParseTime reads a date YYYY-MM-DD (midnight UTC), an RFC 3339 timestamp,
// or "YYYY-MM-DD HH:MM:SS[.fraction]" / "YYYY-MM-DDTHH:MM:SS[.fraction]"
// without a zone (UTC).
func ParseTime(s string) (time.Time, error) {
	if len(s) == 10 {
		if t, ok := parseDate(s); ok {
			return t, nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date (YYYY-MM-DD) or timestamp (RFC 3339): %q", clip(s))
}

// parseDate reads YYYY-MM-DD without time.Parse's generality (dates fill
// TPC-H's tables).
func parseDate(s string) (time.Time, bool) {
	if s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(s[:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// AppendTime formats t as ParseTime reads it: a date when t is midnight UTC,
// else RFC 3339 with nanoseconds. The zero Time is empty (null).
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	if u := t.UTC(); u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 && u.Nanosecond() == 0 {
		return u.AppendFormat(b, time.DateOnly)
	}
	return t.AppendFormat(b, time.RFC3339Nano)
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
