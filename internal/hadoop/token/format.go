package token

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

// Format is the version byte after the "HDTS" magic.
type Format byte

const (
	// FormatWritable is version 0, Hadoop's Writable encoding; Hadoop
	// writes it by default, and NodeManagers write container_tokens in it.
	FormatWritable Format = 0
	// FormatProtobuf is version 1, a length-delimited CredentialsProto.
	FormatProtobuf Format = 1
)

var magic = []byte("HDTS")

// Parse decodes a token file in either format.
func Parse(b []byte) (*Credentials, error) {
	if len(b) < len(magic)+1 || !bytes.Equal(b[:len(magic)], magic) {
		return nil, fmt.Errorf("no HDTS header: %w", ErrFormat)
	}
	body := b[len(magic)+1:]
	switch Format(b[len(magic)]) {
	case FormatWritable:
		return parseWritable(body)
	case FormatProtobuf:
		return parseProto(body)
	default:
		return nil, fmt.Errorf("unknown version %d: %w", b[len(magic)], ErrFormat)
	}
}

// Marshal encodes the credentials in the given format, aliases sorted.
func (c *Credentials) Marshal(f Format) ([]byte, error) {
	out := append([]byte{}, magic...)
	out = append(out, byte(f))
	switch f {
	case FormatWritable:
		return c.appendWritable(out), nil
	case FormatProtobuf:
		msg := &hadooppb.CredentialsProto{}
		for _, a := range c.aliases() {
			msg.Tokens = append(msg.Tokens, &hadooppb.CredentialsKVProto{Alias: proto.String(a), Token: c.Tokens[a].Proto()})
		}
		for _, a := range sortedKeys(c.Secrets) {
			msg.Secrets = append(msg.Secrets, &hadooppb.CredentialsKVProto{Alias: proto.String(a), Secret: append([]byte{}, c.Secrets[a]...)})
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			return nil, fmt.Errorf("token: marshal credentials: %w", err)
		}
		out = protowire.AppendVarint(out, uint64(len(body)))
		return append(out, body...), nil
	default:
		return nil, fmt.Errorf("token: marshal: unknown format %d", f)
	}
}

func parseProto(b []byte) (*Credentials, error) {
	n, k := protowire.ConsumeVarint(b)
	if k < 0 || n > uint64(len(b)-k) {
		return nil, fmt.Errorf("bad CredentialsProto length: %w", ErrFormat)
	}
	var msg hadooppb.CredentialsProto
	if err := proto.Unmarshal(b[k:k+int(n)], &msg); err != nil {
		return nil, fmt.Errorf("CredentialsProto: %w: %w", ErrFormat, err)
	}
	c := NewCredentials()
	for _, kv := range msg.GetTokens() {
		if kv.GetToken() == nil {
			return nil, fmt.Errorf("token entry %q has no token: %w", kv.GetAlias(), ErrFormat)
		}
		c.Tokens[kv.GetAlias()] = FromProto(kv.GetToken())
	}
	for _, kv := range msg.GetSecrets() {
		c.Secrets[kv.GetAlias()] = append([]byte{}, kv.GetSecret()...)
	}
	return c, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at %d bytes from the end: %w", what, len(r.b), ErrFormat)
	}
}

// vlong reads a Hadoop WritableUtils vlong.
func (r *reader) vlong() int64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated vint")
		return 0
	}
	first := int8(r.b[0])
	r.b = r.b[1:]
	if first >= -112 {
		return int64(first)
	}
	neg := first < -120
	n := int(-112 - int(first))
	if neg {
		n = int(-120 - int(first))
	}
	if n > len(r.b) {
		r.fail("truncated vint")
		return 0
	}
	var v uint64
	for _, c := range r.b[:n] {
		v = v<<8 | uint64(c)
	}
	r.b = r.b[n:]
	if neg {
		v = ^v
	}
	return int64(v)
}

// length reads a vint that counts bytes or items still to come; every item
// takes at least one byte, so a count above the remaining bytes is invalid.
func (r *reader) length(what string) int {
	v := r.vlong()
	if r.err != nil {
		return 0
	}
	if v < 0 || v > int64(len(r.b)) || v > math.MaxInt32 {
		r.fail(fmt.Sprintf("%s length %d", what, v))
		return 0
	}
	return int(v)
}

func (r *reader) bytes(what string) []byte {
	n := r.length(what)
	if r.err != nil {
		return nil
	}
	out := append([]byte{}, r.b[:n]...)
	r.b = r.b[n:]
	return out
}

func parseWritable(b []byte) (*Credentials, error) {
	r := &reader{b: b}
	c := NewCredentials()
	n := r.length("token count")
	for i := 0; i < n && r.err == nil; i++ {
		alias := string(r.bytes("alias"))
		t := &Token{}
		t.Identifier = r.bytes("identifier")
		t.Password = r.bytes("password")
		t.Kind = string(r.bytes("kind"))
		t.Service = string(r.bytes("service"))
		if r.err == nil {
			c.Tokens[alias] = t
		}
	}
	n = r.length("secret count")
	for i := 0; i < n && r.err == nil; i++ {
		alias := string(r.bytes("secret alias"))
		v := r.bytes("secret")
		if r.err == nil {
			c.Secrets[alias] = v
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// appendVLong appends v in Hadoop's WritableUtils vlong encoding.
func appendVLong(out []byte, v int64) []byte {
	if v >= -112 && v <= 127 {
		return append(out, byte(int8(v)))
	}
	u := uint64(v)
	lead := -112
	if v < 0 {
		u = ^u
		lead = -120
	}
	n := 0
	for t := u; t != 0; t >>= 8 {
		n++
	}
	out = append(out, byte(int8(lead-n)))
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], u)
	return append(out, buf[8-n:]...)
}

func appendBytes(out, b []byte) []byte {
	return append(appendVLong(out, int64(len(b))), b...)
}

func (c *Credentials) appendWritable(out []byte) []byte {
	out = appendVLong(out, int64(len(c.Tokens)))
	for _, a := range c.aliases() {
		t := c.Tokens[a]
		out = appendBytes(out, []byte(a))
		out = appendBytes(out, t.Identifier)
		out = appendBytes(out, t.Password)
		out = appendBytes(out, []byte(t.Kind))
		out = appendBytes(out, []byte(t.Service))
	}
	out = appendVLong(out, int64(len(c.Secrets)))
	for _, a := range sortedKeys(c.Secrets) {
		out = appendBytes(out, []byte(a))
		out = appendBytes(out, c.Secrets[a])
	}
	return out
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
