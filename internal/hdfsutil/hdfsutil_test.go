package hdfsutil

import (
	"net/url"
	"testing"
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
