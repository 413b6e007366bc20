package fsys

import (
	"errors"
	"reflect"
	"testing"

	"floe/internal/hadoop/conf"
)

func TestNamenodes(t *testing.T) {
	c := conf.New(map[string]string{"fs.defaultFS": "hdfs://127.0.0.1:19820"})
	u, nns, err := Namenodes(c)
	if err != nil || u.Host != "127.0.0.1:19820" || !reflect.DeepEqual(nns, []string{"127.0.0.1:19820"}) {
		t.Fatalf("%v %v %v", u, nns, err)
	}
	c = conf.New(map[string]string{
		"fs.defaultFS": "hdfs://cluster", "dfs.ha.namenodes.cluster": "nn1,nn2",
		"dfs.namenode.rpc-address.cluster.nn1": "a:8020", "dfs.namenode.rpc-address.cluster.nn2": "b:8020",
	})
	if _, nns, err = Namenodes(c); err != nil || !reflect.DeepEqual(nns, []string{"a:8020", "b:8020"}) {
		t.Fatalf("HA: %v %v", nns, err)
	}
	c = conf.New(map[string]string{"fs.defaultFS": "hdfs://nn"})
	if _, nns, _ = Namenodes(c); !reflect.DeepEqual(nns, []string{"nn:8020"}) {
		t.Fatalf("default port: %v", nns)
	}
	if _, _, err := Namenodes(conf.New(nil)); !errors.Is(err, ErrNotHDFS) {
		t.Fatalf("file:///: %v", err)
	}
}
