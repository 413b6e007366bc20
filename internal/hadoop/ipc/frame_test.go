package ipc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

func TestPreamble(t *testing.T) {
	if got := hex.EncodeToString(preamble(authSASL)); got != "68727063"+"09"+"00"+"df" {
		t.Fatalf("preamble = %s", got)
	}
}

func TestRequestFrameBytes(t *testing.T) {
	// The connection-context frame, checked byte by byte: length, then the
	// delimited header (callId -3 zigzag = 5, retryCount -1 zigzag = 1).
	f, err := appendFrame(nil, requestHeader(callIDCtx, []byte{0xAA}, -1),
		&hadooppb.IpcConnectionContextProto{Protocol: proto.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	want := "00000010" + // 16 bytes follow
		"0b" + "0802" + "1000" + "1805" + "2201aa" + "2801" + // RpcRequestHeaderProto
		"03" + "1a0170" // IpcConnectionContextProto{protocol: "p"}
	if got := hex.EncodeToString(f); got != want {
		t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

func TestDecodeResponse(t *testing.T) {
	f, err := appendFrame(nil,
		&hadooppb.RpcResponseHeaderProto{CallId: proto.Uint32(0xFFFFFFDF), Status: hadooppb.RpcResponseHeaderProto_SUCCESS.Enum()},
		&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_CHALLENGE.Enum(), Token: []byte("t")})
	if err != nil {
		t.Fatal(err)
	}
	frame, err := readFrame(bytes.NewReader(f), 1024)
	if err != nil {
		t.Fatal(err)
	}
	hdr, body, err := decodeResponse(frame)
	if err != nil {
		t.Fatal(err)
	}
	if int32(hdr.GetCallId()) != callIDSASL {
		t.Fatalf("callId = %d", int32(hdr.GetCallId()))
	}
	m := &hadooppb.RpcSaslProto{}
	if err := decodeBody(body, m); err != nil || string(m.GetToken()) != "t" {
		t.Fatalf("body: %v %v", m, err)
	}
	if err := decodeBody(append(body, 0), m); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing bytes: %v", err)
	}
	if _, err := readFrame(bytes.NewReader(f), 4); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("max: %v", err)
	}
}

func TestRemoteErrorText(t *testing.T) {
	e := remoteError(&hadooppb.RpcResponseHeaderProto{
		CallId: proto.Uint32(1), Status: hadooppb.RpcResponseHeaderProto_ERROR.Enum(),
		ExceptionClassName: proto.String("org.apache.hadoop.security.AccessControlException"),
		ErrorMsg:           proto.String("denied\n\tat x.y(Z.java:1)"),
	})
	if e.Error() != "ipc: remote org.apache.hadoop.security.AccessControlException: denied" || e.SimpleClass() != "AccessControlException" || e.Fatal {
		t.Fatalf("%q %q %v", e.Error(), e.SimpleClass(), e.Fatal)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	ok, _ := appendFrame(nil,
		&hadooppb.RpcResponseHeaderProto{CallId: proto.Uint32(7), Status: hadooppb.RpcResponseHeaderProto_SUCCESS.Enum()},
		&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum(), Auths: []*hadooppb.RpcSaslProto_SaslAuth{{Method: proto.String("TOKEN"), Mechanism: proto.String("DIGEST-MD5")}}})
	errf, _ := appendFrame(nil, &hadooppb.RpcResponseHeaderProto{CallId: proto.Uint32(3), Status: hadooppb.RpcResponseHeaderProto_FATAL.Enum(),
		ExceptionClassName: proto.String("x.Y"), ErrorMsg: proto.String("m")})
	f.Add(ok)
	f.Add(errf)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 3, 0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, err := readFrame(bytes.NewReader(b), 1<<16)
		if err != nil {
			return
		}
		hdr, body, err := decodeResponse(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if hdr.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
			_ = remoteError(hdr).Error()
			return
		}
		_ = decodeBody(body, &hadooppb.RpcSaslProto{})
		_ = decodeBody(body, &hadooppb.AllocateResponseProto{})
	})
}

// An HTTP server's answer is named as such, not as a huge frame length.
func TestReadFrameHTTPAnswer(t *testing.T) {
	_, err := readFrame(bytes.NewReader([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")), 128<<20)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "answered HTTP, not Hadoop IPC") {
		t.Fatalf("err = %v", err)
	}
}
