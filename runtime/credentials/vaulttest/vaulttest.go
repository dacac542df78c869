// Package vaulttest is an in-test HTTP server speaking the part of Vault's
// HTTP API that runtime/credentials uses, so that tests run the real
// github.com/hashicorp/vault/api client against it. No Vault server can be
// built or installed on the development machines (see docs/architecture.md).
//
// The request and response shapes follow Vault's API documentation:
//
//   - Kubernetes auth method (API), "Login":
//     developer.hashicorp.com/vault/api-docs/auth/kubernetes —
//     POST /v1/auth/<mount>/login with {"role", "jwt"}, answering the
//     standard response envelope with an "auth" block (client_token,
//     accessor, policies, token_policies, metadata, lease_duration,
//     renewable, entity_id, token_type, orphan).
//   - KV secrets engine version 2 (API), "Read secret version":
//     developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2 —
//     GET /v1/<mount>/data/<path>[?version=N], answering
//     data{data{...}, metadata{created_time, custom_metadata,
//     deletion_time, destroyed, version}}; 404 with an empty errors list
//     when there is no such secret or version.
//   - Token auth method (API), "Renew a token (self)":
//     developer.hashicorp.com/vault/api-docs/auth/token —
//     POST (or PUT) /v1/auth/token/renew-self with {"increment"}; the
//     granted lease is capped by the token's max TTL.
//   - Errors: {"errors": ["..."]} with 400 (bad request), 403 ("permission
//     denied": unknown, revoked or expired token, wrong JWT) and 503 (sealed
//     or unavailable), as in "HTTP status codes" of the API overview.
//
// The token is read from X-Vault-Token (or Authorization: Bearer), as
// Vault does.
package vaulttest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Vault. Configure it with the setters; all are safe while
// requests are served.
type Server struct {
	*httptest.Server

	mu          sync.Mutex
	authMount   string
	role        string
	jwt         string
	tokenTTL    time.Duration
	tokenMaxTTL time.Duration
	renewable   bool
	unavailable bool
	tokens      map[string]*tokenEntry
	secrets     map[string][]version // "<mount>/<path>" -> versions (index = version-1)
	requests    map[string]int
}

type tokenEntry struct {
	accessor string
	created  time.Time
	expires  time.Time
	revoked  bool
}

type version struct {
	data    map[string]any
	created time.Time
}

// Start starts a fake Vault accepting Kubernetes-auth logins on authMount
// for role with the given ServiceAccount JWT. Tokens are issued with a TTL
// of one hour, renewable up to a max TTL of one day, unless changed. The
// server is closed by t.Cleanup.
func Start(t testing.TB, authMount, role, jwt string) *Server {
	return StartAt(t, "127.0.0.1:0", authMount, role, jwt)
}

// StartAt is Start listening on addr, e.g. an address a client has been
// failing to reach ("connection refused") until now.
func StartAt(t testing.TB, addr, authMount, role, jwt string) *Server {
	t.Helper()
	return start(t, addr, false, authMount, role, jwt)
}

// StartTLS is Start serving HTTPS with a certificate for 127.0.0.1 from a
// CA of its own; CACertPEM returns that CA.
func StartTLS(t testing.TB, authMount, role, jwt string) *Server {
	t.Helper()
	return start(t, "127.0.0.1:0", true, authMount, role, jwt)
}

// CACertPEM returns the PEM certificate that verifies a StartTLS server.
func (s *Server) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func start(t testing.TB, addr string, useTLS bool, authMount, role, jwt string) *Server {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	s := &Server{
		authMount: authMount, role: role, jwt: jwt,
		tokenTTL: time.Hour, tokenMaxTTL: 24 * time.Hour, renewable: true,
		tokens: map[string]*tokenEntry{}, secrets: map[string][]version{}, requests: map[string]int{},
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Listener.Close()
	s.Server.Listener = ln
	if useTLS {
		s.Server.StartTLS()
	} else {
		s.Server.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// SetTokenTTL sets the TTL and max TTL of tokens issued or renewed from now
// on, and whether they are renewable.
func (s *Server) SetTokenTTL(ttl, maxTTL time.Duration, renewable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL, s.tokenMaxTTL, s.renewable = ttl, maxTTL, renewable
}

// SetUnavailable makes every request fail with 503, as a sealed or
// standby-less Vault does.
func (s *Server) SetUnavailable(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = down
}

// Put writes a new version of the secret at mount/path and returns its
// version number (1 for the first).
func (s *Server) Put(mount, path string, data map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := mount + "/" + path
	s.secrets[key] = append(s.secrets[key], version{data: data, created: time.Now().UTC()})
	return len(s.secrets[key])
}

// RevokeAll revokes every token issued so far (vault token revoke).
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.tokens {
		e.revoked = true
	}
}

// Requests returns how many requests each endpoint ("login", "read",
// "renew") has answered successfully.
func (s *Server) Requests(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

// IssuedTokens returns every client token issued so far, for tests that
// check tokens do not leak.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for tok := range s.tokens {
		out = append(out, tok)
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unavailable {
		writeErrors(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	if path == r.URL.Path {
		writeErrors(w, http.StatusNotFound)
		return
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPut
	switch {
	case write && path == "auth/"+s.authMount+"/login":
		s.login(w, r)
	case write && path == "auth/token/renew-self":
		s.renewSelf(w, r)
	case r.Method == http.MethodGet && strings.Contains(path, "/data/"):
		s.readKV(w, r, path)
	default:
		writeErrors(w, http.StatusNotFound, "unsupported path")
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Role string `json:"role"`
		JWT  string `json:"jwt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if body.Role == "" {
		writeErrors(w, http.StatusBadRequest, "missing role")
		return
	}
	if body.JWT == "" {
		writeErrors(w, http.StatusBadRequest, "missing jwt")
		return
	}
	if body.Role != s.role {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", body.Role))
		return
	}
	if body.JWT != s.jwt {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	tok, acc := "hvs."+randomHex(12), randomHex(12)
	now := time.Now()
	s.tokens[tok] = &tokenEntry{accessor: acc, created: now, expires: now.Add(s.tokenTTL)}
	s.requests["login"]++
	writeJSON(w, http.StatusOK, envelope(nil, s.authBlock(tok, acc, s.tokenTTL)))
}

func (s *Server) renewSelf(w http.ResponseWriter, r *http.Request) {
	tok, e := s.token(r)
	if e == nil {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	if !s.renewable {
		writeErrors(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	var body struct {
		Increment json.RawMessage `json:"increment"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	inc := s.tokenTTL
	if len(body.Increment) > 0 {
		var secs int
		var str string
		switch {
		case json.Unmarshal(body.Increment, &secs) == nil && secs > 0:
			inc = time.Duration(secs) * time.Second
		case json.Unmarshal(body.Increment, &str) == nil && str != "":
			d, err := time.ParseDuration(str)
			if err != nil {
				writeErrors(w, http.StatusBadRequest, "invalid increment "+str)
				return
			}
			inc = d
		}
	}
	now := time.Now()
	expires := now.Add(inc)
	if limit := e.created.Add(s.tokenMaxTTL); expires.After(limit) {
		expires = limit
	}
	e.expires = expires
	s.requests["renew"]++
	writeJSON(w, http.StatusOK, envelope(nil, s.authBlock(tok, e.accessor, expires.Sub(now).Truncate(time.Second))))
}

func (s *Server) readKV(w http.ResponseWriter, r *http.Request, path string) {
	if _, e := s.token(r); e == nil {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	mount, rest, _ := strings.Cut(path, "/data/")
	versions := s.secrets[mount+"/"+rest]
	n := len(versions)
	if q := r.URL.Query().Get("version"); q != "" && q != "0" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 0 {
			writeErrors(w, http.StatusBadRequest, "invalid version "+q)
			return
		}
		n = v
	}
	if n == 0 || n > len(versions) {
		writeErrors(w, http.StatusNotFound)
		return
	}
	v := versions[n-1]
	s.requests["read"]++
	writeJSON(w, http.StatusOK, envelope(map[string]any{
		"data": v.data,
		"metadata": map[string]any{
			"created_time":    v.created.Format(time.RFC3339Nano),
			"custom_metadata": nil,
			"deletion_time":   "",
			"destroyed":       false,
			"version":         n,
		},
	}, nil))
}

// token returns the request's token and its entry if it is valid (known,
// not revoked, not expired).
func (s *Server) token(r *http.Request) (string, *tokenEntry) {
	tok := r.Header.Get("X-Vault-Token")
	if tok == "" {
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	e := s.tokens[tok]
	if e == nil || e.revoked || time.Now().After(e.expires) {
		return tok, nil
	}
	return tok, e
}

func (s *Server) authBlock(tok, acc string, ttl time.Duration) map[string]any {
	return map[string]any{
		"client_token":   tok,
		"accessor":       acc,
		"policies":       []string{"default", "ecap"},
		"token_policies": []string{"default", "ecap"},
		"metadata":       map[string]any{"role": s.role, "service_account_name": "ecap-runtime", "service_account_namespace": "default"},
		"lease_duration": int(ttl / time.Second),
		"renewable":      s.renewable,
		"entity_id":      randomHex(8),
		"token_type":     "service",
		"orphan":         true,
	}
}

// envelope is Vault's response envelope.
func envelope(data, auth map[string]any) map[string]any {
	return map[string]any{
		"request_id":     randomHex(8),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           auth,
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErrors(w http.ResponseWriter, code int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, code, map[string]any{"errors": msgs})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
