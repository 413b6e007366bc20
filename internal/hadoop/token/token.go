package token

import (
	"encoding/base64"
	"fmt"
	"os"
	"sort"

	"floe/internal/hadoop/hadooppb"
)

// Token is a Hadoop security token: an opaque identifier, the password the
// server derives from it, its kind and the service (usually host:port) it is
// for.
type Token struct {
	Identifier []byte
	Password   []byte
	Kind       string
	Service    string
}

// FromProto converts a TokenProto. It returns nil for nil.
func FromProto(p *hadooppb.TokenProto) *Token {
	if p == nil {
		return nil
	}
	return &Token{
		Identifier: append([]byte(nil), p.GetIdentifier()...),
		Password:   append([]byte(nil), p.GetPassword()...),
		Kind:       p.GetKind(),
		Service:    p.GetService(),
	}
}

// Proto converts the token to its protobuf form.
func (t *Token) Proto() *hadooppb.TokenProto {
	return &hadooppb.TokenProto{
		Identifier: append([]byte{}, t.Identifier...),
		Password:   append([]byte{}, t.Password...),
		Kind:       &t.Kind,
		Service:    &t.Service,
	}
}

// SASLCredentials returns the DIGEST-MD5 username and password Hadoop's
// TOKEN authentication derives from the token (SaslRpcServer's
// encodeIdentifier and encodePassword): both base64.
func (t *Token) SASLCredentials() (username, password string) {
	return base64.StdEncoding.EncodeToString(t.Identifier), base64.StdEncoding.EncodeToString(t.Password)
}

// String names the token without its secret.
func (t *Token) String() string {
	return fmt.Sprintf("token{kind=%q service=%q id=%d bytes}", t.Kind, t.Service, len(t.Identifier))
}

// Credentials are the tokens and secret keys of a token file, by alias.
type Credentials struct {
	Tokens  map[string]*Token
	Secrets map[string][]byte
}

// NewCredentials returns empty credentials.
func NewCredentials() *Credentials {
	return &Credentials{Tokens: map[string]*Token{}, Secrets: map[string][]byte{}}
}

// Add stores a token under alias (Hadoop uses the service as alias when it
// has no better name).
func (c *Credentials) Add(alias string, t *Token) { c.Tokens[alias] = t }

// ByKind returns the tokens of the given kind, ordered by alias.
func (c *Credentials) ByKind(kind string) []*Token {
	var out []*Token
	for _, a := range c.aliases() {
		if t := c.Tokens[a]; t.Kind == kind {
			out = append(out, t)
		}
	}
	return out
}

// Find returns the first token (by alias) of the given kind whose service is
// service; an empty service matches any.
func (c *Credentials) Find(kind, service string) (*Token, error) {
	for _, t := range c.ByKind(kind) {
		if service == "" || t.Service == service {
			return t, nil
		}
	}
	return nil, fmt.Errorf("token of kind %q for service %q: %w", kind, service, ErrNotFound)
}

func (c *Credentials) aliases() []string {
	out := make([]string, 0, len(c.Tokens))
	for a := range c.Tokens {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// ReadFile parses the token file at path.
func ReadFile(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token: read %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("token: parse %s: %w", path, err)
	}
	return c, nil
}

// FromEnvironment parses the token file named by HADOOP_TOKEN_FILE_LOCATION.
func FromEnvironment() (*Credentials, error) {
	p := os.Getenv(EnvTokenFile)
	if p == "" {
		return nil, ErrNoTokenFile
	}
	return ReadFile(p)
}
