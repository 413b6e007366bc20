package rpc

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"floe/internal/bufpool"
	"floe/internal/rpc/floepb"
)

// The TCP data plane: the DataExchange subscription protocol (the same
// floepb.ConsumerMessage and floepb.ProducerMessage, credits and events as
// over gRPC) carried as length-prefixed frames on a TCP connection of its
// own, one per subscription, on the TaskManager's gRPC port (Mux tells the
// two apart by the first bytes). Unlike HTTP/2, whose writer copies every
// byte into 16 KB frames, a record batch is written from its pooled buffer
// with one writev behind a 32-byte header and read straight into one pooled
// buffer of its size.
//
// A connection:
//
//	consumer: DataMagic
//	producer: challenge frame (32 random bytes)
//	consumer: proof frame (HMAC-SHA256 of the challenge under the
//	          application's secret), then consumer frames (the first
//	          subscribes, later ones grant credit)
//	producer: producer frames, then one end frame (the subscription ended)
//	          or one error frame (a gRPC status code and message; also the
//	          answer to a wrong proof)
//
// Every frame starts with a header of 8 bytes: the length of the body
// (uint32, big-endian), the frame kind, 3 zero bytes. A producer frame's body
// is 24 bytes of fields (event kind and records as int32, value and flags as
// int64, big-endian) and the payload.

// DataMagic opens a connection of the TCP data plane; gRPC's connections
// open with "PRI " (the HTTP/2 preface).
const DataMagic = "FLD1"

// Frame kinds.
const (
	FrameConsumer  byte = 1 // body: a protobuf ConsumerMessage
	FrameProducer  byte = 2 // body: fields and payload of a ProducerMessage
	FrameEnd       byte = 3 // empty: the producer's serving code returned nil
	FrameError     byte = 4 // body: gRPC status code (uint32) and message
	FrameChallenge byte = 5 // body: the nonce the consumer must prove the secret on
	FrameProof     byte = 6 // body: HMAC-SHA256(secret, proofContext || nonce)
)

const (
	// FrameHeaderLen is the length of every frame's header.
	FrameHeaderLen = 8
	// producerFieldsLen is the length of a producer frame's fixed fields.
	producerFieldsLen = 24
	// MaxPayload bounds a record batch's payload on the TCP data plane; a
	// longer length is refused (a corrupt or hostile peer), and so is a
	// control frame (any other kind) longer than maxControlFrame.
	MaxPayload      = 256 << 20
	maxControlFrame = 64 << 10
	// NonceLen is the length of a challenge.
	NonceLen = 32
	// frameReadBuffer is the reader's buffer: small, so that a payload is
	// read into its own buffer rather than copied out of this one, and
	// large enough for a run of credit or event frames in one read.
	frameReadBuffer = 1024
)

// proofContext binds a proof to this protocol (the secret may be used to
// sign other things).
const proofContext = "floe data plane v1\x00"

// ErrFrame is wrapped by the errors about bytes that are not a frame of the
// TCP data plane.
var ErrFrame = errors.New("malformed data plane frame")

// DataProof is the proof of secret for challenge nonce.
func DataProof(secret string, nonce []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(proofContext))
	h.Write(nonce)
	return h.Sum(nil)
}

// CheckDataProof reports whether proof is DataProof(secret, nonce), in
// constant time.
func CheckDataProof(secret string, nonce, proof []byte) bool {
	return hmac.Equal(DataProof(secret, nonce), proof)
}

// Frame is one decoded frame. Producer's payload is a buffer of
// bufpool.Messages that the caller owns (nil when empty).
type Frame struct {
	Kind     byte
	Producer *floepb.ProducerMessage // FrameProducer
	Consumer *floepb.ConsumerMessage // FrameConsumer
	Err      error                   // FrameError: a gRPC status error
	Bytes    []byte                  // FrameChallenge, FrameProof
}

// FrameReader decodes frames from a connection. It is not safe for
// concurrent use.
type FrameReader struct {
	r   *bufio.Reader
	hdr [FrameHeaderLen + producerFieldsLen]byte
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, frameReadBuffer)}
}

// Read returns the next frame. At a clean end of the input between frames
// it returns io.EOF; a frame cut short is io.ErrUnexpectedEOF; bytes that are
// not a frame wrap ErrFrame.
func (fr *FrameReader) Read() (Frame, error) {
	h := fr.hdr[:FrameHeaderLen]
	if _, err := io.ReadFull(fr.r, h); err != nil {
		return Frame{}, err
	}
	n := int(binary.BigEndian.Uint32(h))
	kind := h[4]
	if h[5]|h[6]|h[7] != 0 {
		return Frame{}, fmt.Errorf("%w: reserved header bytes %x", ErrFrame, h[5:8])
	}
	if kind == FrameProducer {
		return fr.readProducer(n)
	}
	if n > maxControlFrame {
		return Frame{}, fmt.Errorf("%w: frame of kind %d with %d bytes (at most %d)", ErrFrame, kind, n, maxControlFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(fr.r, body); err != nil {
		return Frame{}, unexpected(err)
	}
	f := Frame{Kind: kind}
	switch kind {
	case FrameConsumer:
		f.Consumer = &floepb.ConsumerMessage{}
		if err := proto.Unmarshal(body, f.Consumer); err != nil {
			return Frame{}, fmt.Errorf("%w: consumer message: %w", ErrFrame, err)
		}
	case FrameEnd:
		if n != 0 {
			return Frame{}, fmt.Errorf("%w: end frame with %d bytes", ErrFrame, n)
		}
	case FrameError:
		if n < 4 {
			return Frame{}, fmt.Errorf("%w: error frame of %d bytes", ErrFrame, n)
		}
		code := codes.Code(binary.BigEndian.Uint32(body))
		if code == codes.OK {
			return Frame{}, fmt.Errorf("%w: error frame with code OK", ErrFrame)
		}
		f.Err = status.Error(code, string(body[4:]))
	case FrameChallenge, FrameProof:
		f.Bytes = body
	default:
		return Frame{}, fmt.Errorf("%w: unknown kind %d", ErrFrame, kind)
	}
	return f, nil
}

func (fr *FrameReader) readProducer(n int) (Frame, error) {
	if n < producerFieldsLen || n-producerFieldsLen > MaxPayload {
		return Frame{}, fmt.Errorf("%w: producer frame of %d bytes (%d to %d)", ErrFrame, n, producerFieldsLen, producerFieldsLen+MaxPayload)
	}
	b := fr.hdr[FrameHeaderLen:]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		return Frame{}, unexpected(err)
	}
	m := &floepb.ProducerMessage{
		Kind:    floepb.EventKind(int32(binary.BigEndian.Uint32(b))),
		Records: int32(binary.BigEndian.Uint32(b[4:])),
		Value:   int64(binary.BigEndian.Uint64(b[8:])),
		Flags:   int64(binary.BigEndian.Uint64(b[16:])),
	}
	if p := n - producerFieldsLen; p > 0 {
		buf := bufpool.Messages.Get(p)
		if _, err := io.ReadFull(fr.r, *buf); err != nil {
			bufpool.Messages.Put(buf)
			return Frame{}, unexpected(err)
		}
		m.Payload = *buf
	}
	return Frame{Kind: FrameProducer, Producer: m}, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// FrameWriter encodes frames onto a connection. It is not safe for
// concurrent use.
type FrameWriter struct {
	w   io.Writer
	hdr [FrameHeaderLen + producerFieldsLen]byte
	vec [2][]byte
}

// NewFrameWriter writes frames to w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// WriteProducer writes m: its header and its payload in one writev when w
// is a TCP connection, the payload not copied. m's payload is the caller's
// again when it returns.
func (fw *FrameWriter) WriteProducer(m *floepb.ProducerMessage) error {
	p := m.GetPayload()
	if len(p) > MaxPayload {
		return fmt.Errorf("producer message of %d bytes: the data plane's frames carry at most %d", len(p), MaxPayload)
	}
	h := fw.hdr[:]
	binary.BigEndian.PutUint32(h, uint32(producerFieldsLen+len(p)))
	h[4], h[5], h[6], h[7] = FrameProducer, 0, 0, 0
	b := h[FrameHeaderLen:]
	binary.BigEndian.PutUint32(b, uint32(m.GetKind()))
	binary.BigEndian.PutUint32(b[4:], uint32(m.GetRecords()))
	binary.BigEndian.PutUint64(b[8:], uint64(m.GetValue()))
	binary.BigEndian.PutUint64(b[16:], uint64(m.GetFlags()))
	if len(p) == 0 {
		_, err := fw.w.Write(h)
		return err
	}
	fw.vec[0], fw.vec[1] = h, p
	bufs := net.Buffers(fw.vec[:])
	_, err := bufs.WriteTo(fw.w)
	fw.vec[0], fw.vec[1] = nil, nil
	return err
}

// WriteConsumer writes m.
func (fw *FrameWriter) WriteConsumer(m *floepb.ConsumerMessage) error {
	b, err := proto.MarshalOptions{}.MarshalAppend(fw.header(FrameConsumer, 0), m)
	if err != nil {
		return fmt.Errorf("encode consumer message: %w", err)
	}
	return fw.writeControl(b)
}

// WriteEnd writes the end of a subscription: nil as an end frame, an error
// as an error frame with its gRPC status (codes.Unknown for an error
// without one).
func (fw *FrameWriter) WriteEnd(err error) error {
	if err == nil {
		return fw.writeControl(fw.header(FrameEnd, 0))
	}
	st := status.Convert(err)
	msg := st.Message()
	if len(msg) > maxControlFrame-4 {
		msg = msg[:maxControlFrame-4]
	}
	b := binary.BigEndian.AppendUint32(fw.header(FrameError, 0), uint32(st.Code()))
	return fw.writeControl(append(b, msg...))
}

// WriteBytes writes a challenge or a proof.
func (fw *FrameWriter) WriteBytes(kind byte, b []byte) error {
	return fw.writeControl(append(fw.header(kind, len(b)), b...))
}

// header starts a control frame of kind in a new buffer; writeControl
// fills in its length.
func (fw *FrameWriter) header(kind byte, n int) []byte {
	b := make([]byte, FrameHeaderLen, FrameHeaderLen+n+16)
	b[4] = kind
	return b
}

func (fw *FrameWriter) writeControl(b []byte) error {
	if len(b)-FrameHeaderLen > maxControlFrame {
		return fmt.Errorf("data plane control frame of %d bytes (at most %d)", len(b)-FrameHeaderLen, maxControlFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-FrameHeaderLen))
	_, err := fw.w.Write(b)
	return err
}
