package dataset

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"floe/datastream"
)

// SinkOption configures a file sink.
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	overwrite bool
	delim     rune
}

// Overwrite replaces the files of an earlier run in the output directory
// (as -D floe.output.overwrite=true does for every output of the job).
func Overwrite() SinkOption { return func(c *sinkConfig) { c.overwrite = true } }

// Delimiter sets WriteCSV's field separator (default ',').
func Delimiter(r rune) SinkOption { return func(c *sinkConfig) { c.delim = r } }

func sinkOptions(opts []SinkOption) sinkConfig {
	c := sinkConfig{delim: ','}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// sink sets a sink to d's parallelism: an ordered data set (Sort, TopN) is
// written as one file.
func sink[T any](d DataSet[T], s datastream.Sink, c sinkConfig) datastream.Sink {
	if c.overwrite {
		s = s.Overwrite()
	}
	return s.SetParallelism(d.s.Parallelism())
}

// WriteCSV writes d as CSV part files (no header) in dir, local or hdfs://:
// the fields of T (a struct; nested structs flattened) in declaration
// order, numbers as Go formats them, a time.Time at midnight UTC as
// YYYY-MM-DD and others as RFC 3339. Fields that hold the delimiter, a quote
// or a line break are quoted. Every file sink of this package goes through
// datastream's part-file sinks: each subtask writes hidden in-progress
// files and publishes them as part-<subtask>-<n> when its input ends, and
// Execute refuses, in the client before anything runs, an output directory
// that holds files unless Overwrite (or -D floe.output.overwrite=true) is
// given.
func WriteCSV[T any](d DataSet[T], dir string, opts ...SinkOption) datastream.Sink {
	c := sinkOptions(opts)
	format, err := csvFormatter[T](c.delim)
	if err != nil {
		d.env.fail(fmt.Errorf("%w: WriteCSV %s: %w", ErrInvalidJob, dir, err))
	}
	return sink(d, datastream.WriteText(d.s, dir, format).Name("Sink: CSV "+dir), c)
}

// WriteJSONLines writes d as one JSON object per line (encoding/json, so
// field tags apply), with WriteCSV's part files and checks.
func WriteJSONLines[T any](d DataSet[T], dir string, opts ...SinkOption) datastream.Sink {
	return sink(d, datastream.WriteJSON(d.s, dir), sinkOptions(opts))
}

// WriteParquet writes d as Parquet files (columns from T's fields), with
// WriteCSV's part files and checks.
func WriteParquet[T any](d DataSet[T], dir string, opts ...SinkOption) datastream.Sink {
	return sink(d, datastream.WriteParquet(d.s, dir), sinkOptions(opts))
}

// Collect gathers d in memory, for tests: it works in local jobs whose
// TaskManagers run in the client's process. Items returns the records of an
// ordered data set in order.
func Collect[T any](d DataSet[T]) *datastream.Collector[T] {
	c, s := datastream.Collect(d.s)
	sink(d, s, sinkConfig{})
	return c
}

var timeType = reflect.TypeFor[time.Time]()

// csvFormatter derives, once per type, the function that writes a record
// as one CSV line.
func csvFormatter[T any](delim rune) (func(T) string, error) {
	var fields []func(reflect.Value, *strings.Builder)
	var walk func(t reflect.Type, index []int) error
	walk = func(t reflect.Type, index []int) error {
		if t.Kind() == reflect.Struct && t != timeType {
			for i := range t.NumField() {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				if err := walk(f.Type, append(append([]int(nil), index...), i)); err != nil {
					return err
				}
			}
			return nil
		}
		w, err := csvField(t, delim)
		if err != nil {
			return err
		}
		idx := index
		fields = append(fields, func(v reflect.Value, b *strings.Builder) { w(v.FieldByIndex(idx), b) })
		return nil
	}
	if err := walk(reflect.TypeFor[T](), nil); err != nil {
		return nil, err
	}
	sep := string(delim)
	return func(v T) string {
		rv := reflect.ValueOf(&v).Elem()
		var b strings.Builder
		for i, f := range fields {
			if i > 0 {
				b.WriteString(sep)
			}
			f(rv, &b)
		}
		return b.String()
	}, nil
}

func csvField(t reflect.Type, delim rune) (func(reflect.Value, *strings.Builder), error) {
	if t == timeType {
		return func(v reflect.Value, b *strings.Builder) {
			tm := v.Interface().(time.Time)
			if tm.Location() == time.UTC && tm.Equal(tm.Truncate(24*time.Hour)) {
				b.WriteString(tm.Format(time.DateOnly))
				return
			}
			b.WriteString(tm.Format(time.RFC3339Nano))
		}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(v reflect.Value, b *strings.Builder) { b.WriteString(strconv.FormatBool(v.Bool())) }, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value, b *strings.Builder) { b.WriteString(strconv.FormatInt(v.Int(), 10)) }, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(v reflect.Value, b *strings.Builder) { b.WriteString(strconv.FormatUint(v.Uint(), 10)) }, nil
	case reflect.Float32, reflect.Float64:
		bits := t.Bits()
		return func(v reflect.Value, b *strings.Builder) {
			b.WriteString(strconv.FormatFloat(v.Float(), 'f', -1, bits))
		}, nil
	case reflect.String:
		return func(v reflect.Value, b *strings.Builder) { csvQuote(v.String(), delim, b) }, nil
	}
	return nil, fmt.Errorf("type %s has no CSV form (use numbers, strings, bools, time.Time and structs of them)", t)
}

// csvQuote writes s, quoted as RFC 4180 when it needs to be.
func csvQuote(s string, delim rune, b *strings.Builder) {
	if !strings.ContainsRune(s, delim) && !strings.ContainsAny(s, "\"\r\n") {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	b.WriteString(strings.ReplaceAll(s, `"`, `""`))
	b.WriteByte('"')
}
