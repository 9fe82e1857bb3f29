package builtin

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

// AuthConfig configures the auth plugin.
type AuthConfig struct {
	// Tokens are the tokens a client may present in its HELLO; any other
	// token is refused.
	Tokens []AuthToken `yaml:"tokens" json:"tokens"`
}

// AuthToken is one token, the identity it stands for, and what it may do.
type AuthToken struct {
	// Token is the secret the client presents.
	Token string `yaml:"token" json:"token"`
	// Identity names the client in logs and /connections.
	Identity string `yaml:"identity" json:"identity"`
	// Publish and Subscribe are stream-name prefixes the identity may
	// publish to and subscribe to; "*" allows every stream. Opening a
	// stream needs either permission.
	Publish   []string `yaml:"publish" json:"publish"`
	Subscribe []string `yaml:"subscribe" json:"subscribe"`
}

// Auth is the auth plugin: token authentication with per-stream-prefix
// publish and subscribe permissions. A refused token closes the connection
// with ERROR unauthorized; an OPEN, SUBSCRIBE or PUBLISH outside the
// identity's permissions is answered with ERROR forbidden, and the
// connection stays.
type Auth struct {
	tokens []AuthToken
}

// Init reads the tokens and checks them.
func (a *Auth) Init(env plugin.Env) error {
	var cfg AuthConfig
	if err := env.Config.Decode(&cfg); err != nil {
		return err
	}
	if len(cfg.Tokens) == 0 {
		return errors.New("no tokens: every client would be refused")
	}
	var errs []error
	seenTok, seenID := map[string]bool{}, map[string]bool{}
	for i, t := range cfg.Tokens {
		switch {
		case t.Token == "":
			errs = append(errs, fmt.Errorf("tokens[%d]: empty token", i))
		case seenTok[t.Token]:
			errs = append(errs, fmt.Errorf("tokens[%d]: token given twice", i))
		}
		switch {
		case t.Identity == "":
			errs = append(errs, fmt.Errorf("tokens[%d]: empty identity", i))
		case seenID[t.Identity]:
			errs = append(errs, fmt.Errorf("tokens[%d]: identity %q given twice", i, t.Identity))
		}
		for _, p := range append(t.Publish[:len(t.Publish):len(t.Publish)], t.Subscribe...) {
			if p == "" {
				errs = append(errs, fmt.Errorf("tokens[%d] (%s): empty prefix (write \"*\" for every stream)", i, t.Identity))
			}
		}
		seenTok[t.Token], seenID[t.Identity] = true, true
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.tokens = cfg.Tokens
	return nil
}

// Close does nothing.
func (a *Auth) Close() error { return nil }

// Connect looks the token up, in time independent of which token matches,
// and names the connection's identity.
func (a *Auth) Connect(c *plugin.ConnInfo, token []byte) (plugin.Session, error) {
	match := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(token, []byte(a.tokens[i].Token)) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, errors.New("unknown token")
	}
	t := &a.tokens[match]
	c.Identity = t.Identity
	return &authSession{t: t}, nil
}

// authSession checks one connection's requests against its token.
type authSession struct {
	t *AuthToken
	// lastPub caches the last stream a publish was allowed to.
	lastPub string
}

func allowed(prefixes []string, name string) bool {
	for _, p := range prefixes {
		if p == "*" || strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (s *authSession) OpenStream(name string, _ bool) error {
	if allowed(s.t.Publish, name) || allowed(s.t.Subscribe, name) {
		return nil
	}
	return plugin.Forbidden("%s may not open stream %q", s.t.Identity, name)
}

func (s *authSession) Subscribe(name string) error {
	if allowed(s.t.Subscribe, name) {
		return nil
	}
	return plugin.Forbidden("%s may not subscribe to stream %q", s.t.Identity, name)
}

func (s *authSession) Publish(b *plugin.Batch) error {
	if b.Stream == s.lastPub && s.lastPub != "" {
		return nil
	}
	if allowed(s.t.Publish, b.Stream) {
		s.lastPub = b.Stream
		return nil
	}
	return plugin.Forbidden("%s may not publish to stream %q", s.t.Identity, b.Stream)
}
