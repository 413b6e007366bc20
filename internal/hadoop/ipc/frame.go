package ipc

import (
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

// Wire constants of Hadoop IPC v9 (RpcConstants, Server.AuthProtocol).
const (
	rpcVersion   = 9
	authNone     = 0
	authSASL     = 0xDF
	callIDSASL   = -33
	callIDPing   = -4
	callIDCtx    = -3
	callIDAuthFl = -1 // AUTHORIZATION_FAILED: the server rejects the connection

	// DefaultMaxResponseLength is Hadoop's ipc.maximum.response.length.
	DefaultMaxResponseLength = 128 << 20
)

var preambleMagic = []byte("hrpc")

func preamble(auth byte) []byte {
	return append(append([]byte{}, preambleMagic...), rpcVersion, 0, auth)
}

// appendFrame appends one frame: a 4-byte big-endian length and the
// varint-delimited messages.
func appendFrame(out []byte, msgs ...proto.Message) ([]byte, error) {
	start := len(out)
	out = append(out, 0, 0, 0, 0)
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("ipc: marshal %T: %w", m, err)
		}
		out = protowire.AppendVarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start-4))
	return out, nil
}

func requestHeader(callID int32, clientID []byte, retry int32) *hadooppb.RpcRequestHeaderProto {
	return &hadooppb.RpcRequestHeaderProto{
		RpcKind:    hadooppb.RpcKindProto_RPC_PROTOCOL_BUFFER.Enum(),
		RpcOp:      hadooppb.RpcRequestHeaderProto_RPC_FINAL_PACKET.Enum(),
		CallId:     proto.Int32(callID),
		ClientId:   clientID,
		RetryCount: proto.Int32(retry),
	}
}

// readFrame reads one length-prefixed frame of at most max bytes.
func readFrame(r io.Reader, max int) ([]byte, error) {
	return readFrameHook(r, max, func(bool) {})
}

// readFrameHook is readFrame calling hook(true) once the length is read and
// hook(false) when the frame is done.
func readFrameHook(r io.Reader, max int, hook func(started bool)) ([]byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, err
	}
	hook(true)
	defer hook(false)
	if string(lb[:]) == "HTTP" {
		return nil, fmt.Errorf("the server answered HTTP, not Hadoop IPC (is the address a web port, such as the ResourceManager's 8088 instead of its 8032?): %w", ErrMalformed)
	}
	n := int32(binary.BigEndian.Uint32(lb[:]))
	if n == -1 {
		// A pre-v9 server answers with -1 and Writable strings.
		return nil, fmt.Errorf("server speaks an IPC version before 9: %w", ErrMalformed)
	}
	if n <= 0 {
		return nil, fmt.Errorf("frame length %d: %w", n, ErrMalformed)
	}
	if int(n) > max {
		return nil, fmt.Errorf("frame length %d over %d: %w", n, max, ErrFrameTooLarge)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// consumeDelimited decodes one varint-delimited message from b into m and
// returns the rest.
func consumeDelimited(b []byte, m proto.Message) ([]byte, error) {
	n, k := protowire.ConsumeVarint(b)
	if k < 0 {
		return nil, fmt.Errorf("bad length prefix of %T: %w", m, ErrMalformed)
	}
	if n > uint64(len(b)-k) {
		return nil, fmt.Errorf("%T of %d bytes past the frame end: %w", m, n, ErrMalformed)
	}
	if err := proto.Unmarshal(b[k:k+int(n)], m); err != nil {
		return nil, fmt.Errorf("%T: %w: %w", m, ErrMalformed, err)
	}
	return b[k+int(n):], nil
}

// decodeResponse splits a response frame into its header and the bytes
// after it (the delimited response message, when the status is SUCCESS).
func decodeResponse(frame []byte) (*hadooppb.RpcResponseHeaderProto, []byte, error) {
	hdr := &hadooppb.RpcResponseHeaderProto{}
	rest, err := consumeDelimited(frame, hdr)
	if err != nil {
		return nil, nil, err
	}
	return hdr, rest, nil
}

// remoteError builds the error of a non-SUCCESS response header.
func remoteError(h *hadooppb.RpcResponseHeaderProto) *RemoteError {
	cls := h.GetExceptionClassName()
	if cls == "" {
		cls = "(no exception class)"
	}
	return &RemoteError{
		Class:   cls,
		Message: h.GetErrorMsg(),
		Code:    h.GetErrorDetail(),
		Fatal:   h.GetStatus() == hadooppb.RpcResponseHeaderProto_FATAL,
	}
}

// decodeBody unmarshals the response message of a SUCCESS response; it must
// fill the frame exactly.
func decodeBody(body []byte, m proto.Message) error {
	rest, err := consumeDelimited(body, m)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after %T: %w", len(rest), m, ErrMalformed)
	}
	return nil
}
