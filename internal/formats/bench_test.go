package formats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tpchLineItem is TPC-H's lineitem, as a .tbl file holds it.
type tpchLineItem struct {
	OrderKey, PartKey, SuppKey, LineNumber int64
	Quantity, ExtendedPrice, Discount, Tax float64
	ReturnFlag, LineStatus                 string
	ShipDate, CommitDate, ReceiptDate      time.Time
	ShipInstruct, ShipMode, Comment        string
}

const tblLine = "1|155190|7706|1|17|21168.23|0.04|0.02|N|O|1996-03-13|1996-02-12|1996-03-22|DELIVER IN PERSON|TRUCK|egular courts above the|"

func BenchmarkCSVDecodeLineItem(b *testing.B) {
	c, err := NewCSV[tpchLineItem](CSVOptions{Delimiter: '|'})
	if err != nil {
		b.Fatal(err)
	}
	d, _ := c.Bind(nil)
	line := []byte(tblLine)
	var v tpchLineItem
	b.SetBytes(int64(len(line) + 1))
	for b.Loop() {
		if err := d.Decode(line, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCSVReadSplit reads a 100k-line .tbl file through one split.
func BenchmarkCSVReadSplit(b *testing.B) {
	p := filepath.Join(b.TempDir(), "lineitem.tbl")
	var sb strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&sb, "%d%s\n", i, tblLine[1:])
	}
	os.WriteFile(p, []byte(sb.String()), 0o644)
	c, _ := NewCSV[tpchLineItem](CSVOptions{Delimiter: '|'})
	ctx := context.Background()
	splits, _ := c.Splits(ctx, []string{p}, 1<<30)
	b.SetBytes(int64(sb.Len()))
	for b.Loop() {
		r, err := c.Open(ctx, splits[0], 0)
		if err != nil {
			b.Fatal(err)
		}
		var v tpchLineItem
		for {
			if err := r.Next(&v); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
}

// BenchmarkCSVAppendRecordLineItem writes one lineitem row as a CSV line
// (the writer behind datastream.WriteCSV and dataset.WriteCSV).
func BenchmarkCSVAppendRecordLineItem(b *testing.B) {
	c, err := NewCSV[tpchLineItem](CSVOptions{Delimiter: '|'})
	if err != nil {
		b.Fatal(err)
	}
	d, _ := c.Bind(nil)
	var v tpchLineItem
	if err := d.Decode([]byte(tblLine), &v); err != nil {
		b.Fatal(err)
	}
	var line []byte
	b.SetBytes(int64(len(c.AppendRecord(nil, &v))))
	for b.Loop() {
		line = c.AppendRecord(line[:0], &v)
	}
}
