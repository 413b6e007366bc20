package hdfsutil

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"floe/internal/hadoop/conf"
)

func TestURL(t *testing.T) {
	fs := &FS{URI: &url.URL{Scheme: "hdfs", Host: "127.0.0.1:19820"}}
	u := fs.URL("/user/x/app.bin")
	if u.GetScheme() != "hdfs" || u.GetHost() != "127.0.0.1" || u.GetPort() != 19820 || u.GetFile() != "/user/x/app.bin" {
		t.Fatalf("%v", u)
	}
	if PathOf(u) != "hdfs://127.0.0.1:19820/user/x/app.bin" {
		t.Fatalf("PathOf = %s", PathOf(u))
	}
	fs = &FS{URI: &url.URL{Scheme: "hdfs", Host: "cluster"}}
	if u := fs.URL("/a"); u.Port != nil || PathOf(u) != "hdfs://cluster/a" {
		t.Fatalf("%v %s", u, PathOf(u))
	}
}

// A NameNode that refuses connections is named in the error with where its
// address came from, once.
func TestConnectRefusedSaysWhere(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	_, err = Connect(conf.New(map[string]string{"fs.defaultFS": "hdfs://" + addr}), "floe", time.Second)
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "cannot reach HDFS (fs.defaultFS \"hdfs://"+addr+"\"") || !strings.Contains(msg, "connection refused") {
		t.Errorf("error = %q, want it to start with the fs.defaultFS it could not reach", msg)
	}
}
