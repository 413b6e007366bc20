package datastream_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"floe/datastream"
	"floe/internal/fsys"
	"floe/internal/testenv"
)

// TestIntegrationFilesHDFS reads .tbl files from the minicluster's HDFS
// through a glob at parallelism 2 with splits that cut lines, writes them
// to HDFS as Parquet, and reads that back (FLOE_INTEGRATION=1).
func TestIntegrationFilesHDFS(t *testing.T) {
	testenv.HadoopConfDir(t)
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	root := "hdfs:///tmp/floe-formats-test-" + hex.EncodeToString(b[:])
	fsy, _, err := fsys.Resolve(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsy.RemoveAll(context.Background(), root) })

	local := t.TempDir()
	want := writeCSVFiles(t, local, 3, 400, '|', false, true)
	for i := range 3 {
		name := fmt.Sprintf("part-%d.tbl", i)
		src, err := os.Open(filepath.Join(local, name))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := fsy.Create(ctx, root+"/in/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}

	env := newEnv(2)
	items := datastream.ReadCSV[lineItem](env, root+"/in/part-*.tbl",
		datastream.CSVOptions{Delimiter: '|', FileOptions: datastream.FileOptions{SplitSize: 5000}})
	got, _ := datastream.Collect(items)
	// pqarrow writes no Duration columns: Parquet gets the rest.
	datastream.WriteParquet(datastream.Map(items, withoutLag), root+"/pq")
	if _, err := env.Execute(ctx, "tbl-from-hdfs"); err != nil {
		t.Fatal(err)
	}
	sameMultiset(t, multiset(got.Items(), lineItem.key), multiset(want, lineItem.key))

	env = newEnv(2)
	back, _ := datastream.Collect(datastream.ReadParquet[noLag](env, root+"/pq", datastream.ParquetOptions{}))
	if _, err := env.Execute(ctx, "parquet-from-hdfs"); err != nil {
		t.Fatal(err)
	}
	var wantPQ []noLag
	for _, it := range want {
		wantPQ = append(wantPQ, withoutLag(it))
	}
	key := func(v noLag) string { return fmt.Sprintf("%+v", v) }
	sameMultiset(t, multiset(back.Items(), key), multiset(wantPQ, key))
}

type noLag struct {
	OrderKey  int64
	Quantity  float64
	Flag      string
	ShipDate  int64 // Unix seconds: Parquet's timestamps read back in UTC
	Comment   string
	Delivered bool
	Tiny      int8
	Count     uint32
	Raw       []byte
}

func withoutLag(l lineItem) noLag {
	return noLag{l.OrderKey, l.Quantity, l.Flag, l.ShipDate.Unix(), l.Comment, l.Delivered, l.Tiny, l.Count, l.Raw}
}
