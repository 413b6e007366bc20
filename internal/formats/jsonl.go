package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unsafe"
)

// JSONLines is the JSON-lines format of records T: one JSON object per
// line, keys matched with T's fields case-insensitively; keys without a
// field are ignored and fields without a key keep their zero value. Fields
// of types without a text form (nested structs, slices, maps) are decoded
// by encoding/json. It is immutable and safe for concurrent use.
type JSONLines[T any] struct{ fs *fields }

// NewJSONLines checks T.
func NewJSONLines[T any]() (*JSONLines[T], error) {
	fs, err := fieldsOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return &JSONLines[T]{fs: fs}, nil
}

// Decode parses one line into v, which it zeroes first.
func (j *JSONLines[T]) Decode(line []byte, v *T) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if obj == nil {
		return fmt.Errorf("null, not a JSON object")
	}
	var zero T
	*v = zero
	base := unsafe.Pointer(v)
	for key, raw := range obj {
		k, ok := j.fs.lookup(key)
		if !ok {
			continue
		}
		f := &j.fs.list[k]
		if err := f.setJSON(unsafe.Add(base, f.off), raw); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
	}
	return nil
}

// setJSON stores one JSON value into the field at p.
func (f *field) setJSON(p unsafe.Pointer, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		f.zero(p)
		return nil
	}
	switch f.kind {
	case kindOther:
		return json.Unmarshal(raw, reflect.NewAt(f.typ, p).Interface())
	case kindBool:
		switch string(raw) {
		case "true":
			*(*bool)(p) = true
			return nil
		case "false":
			*(*bool)(p) = false
			return nil
		}
	case kindDuration:
		if len(raw) > 0 && raw[0] != '"' { // nanoseconds, as encoding/json writes a Duration
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return fmt.Errorf("not a duration: %s", clip(string(raw)))
			}
			*(*time.Duration)(p) = time.Duration(n)
			return nil
		}
	case kindInt, kindUint, kindFloat:
		if len(raw) > 0 && raw[0] != '"' && raw[0] != '{' && raw[0] != '[' {
			if f.kind != kindFloat && bytes.ContainsAny(raw, ".eE") { // 3.0 or 1e3 into an integer
				v, err := strconv.ParseFloat(string(raw), 64)
				if err != nil || v != float64(int64(v)) {
					return fmt.Errorf("not an integer: %s", clip(string(raw)))
				}
				raw = strconv.AppendInt(nil, int64(v), 10)
			}
			return f.setText(p, string(raw), false)
		}
	}
	if len(raw) > 0 && raw[0] == '"' { // strings hold text forms: "2024-01-02", "1.5", "1m"
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		if s == "" && f.kind != kindString && f.kind != kindBytes {
			return fmt.Errorf("empty string for a %s", f.typ)
		}
		return f.setText(p, s, false)
	}
	return fmt.Errorf("%s for a %s", clip(string(raw)), f.typ)
}
