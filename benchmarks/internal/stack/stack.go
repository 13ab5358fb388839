// Package stack starts, watches and stops what a benchmark of CampsHub360
// Edge runs against, on 127.0.0.1 and free ports only (never the ports of
// `make run`, so it runs beside a development stack):
//
//   - the campus backend, N instances (`backend serve`) on one PostgreSQL
//     database (and Redis when given), after migrating, seeding an empty
//     database and provisioning load-test accounts (`backend accounts
//     bench`, development databases only);
//   - the gateway, running the shipped single-host configuration
//     (deploy/config/gateway.single-host.yaml) with only addresses, the
//     certificate and Redis overridden from the environment;
//   - nginx as the system it replaces would run it (deploy/nginx/bench.conf:
//     TLS, proxy_cache, limit_req, least_conn, keep-alive upstream
//     connections) in front of the same instances, when an nginx binary is
//     given;
//   - a constant-response fasthttp server over TLS (benchsrv): the ceiling
//     of any server on this machine.
//
// Every process gets its own process group and log file under the work
// directory; Close stops them all, by PID, also after a failed start.
package stack

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says what to start and where.
type Config struct {
	// Bin is the directory holding the gateway, backend and benchsrv
	// binaries.
	Bin string
	// Nginx is the nginx binary; "" leaves nginx out.
	Nginx string
	// DatabaseURL is a PostgreSQL database the stack may migrate, seed and
	// give load-test accounts: a development or benchmark database.
	DatabaseURL string
	// RedisURL is the Redis of the backends and the gateway; "" for none.
	RedisURL string
	// Work is the directory for configurations, logs, certificates and
	// the fixture of this run; it must exist.
	Work string
	// State is kept with the database between runs: the backends'
	// development keyrings (which seal the seeded personal data: a
	// database outliving its keyrings answers 500 on sealed fields) and
	// the bench password.
	State string
	// Root is the repository root (deploy/ configurations are read from
	// it).
	Root string
	// Backends is the number of backend instances; >= 1.
	Backends int
	// SeedStudents is the campus size seeded into an empty database.
	SeedStudents int
	// Students is the number of student accounts provisioned (whole
	// sections).
	Students int
	// BcryptCost is the password hashing cost of the accounts and the
	// backends (AUTH_BCRYPT_COST; --dev allows 4..16).
	BcryptCost int
	// Logf receives progress lines; nil for none.
	Logf func(format string, args ...any)
}

// Stack is a running benchmark stack. Its methods are safe for concurrent
// use.
type Stack struct {
	cfg Config

	// Fixture is the provisioned load-test data.
	Fixture Fixture
	// Cert and Key are the PEM files of the self-signed ECDSA P-256
	// certificate (localhost, 127.0.0.1) the gateway, nginx and the
	// ceiling serve.
	Cert, Key string

	mu       sync.Mutex
	backends []*Proc
	addrs    []string // backend addresses, fixed across restarts
	gateway  *Proc
	nginx    *Proc
	ceiling  *Proc
	closed   bool

	gwURL, gwAdmin, nginxURL, nginxLog, ceilingURL string
	nginxCache                                     string
	backendEnv                                     []string
}

// Fixture is what `backend accounts bench` provisioned.
type Fixture struct {
	// Dir holds students.json, faculty.json and staff.json.
	Dir string
	// Password is every bench account's password.
	Password string
}

// Start provisions the database and starts everything; on failure it
// stops what it started. Close stops the stack.
func Start(ctx context.Context, cfg Config) (s *Stack, err error) {
	if cfg.Backends < 1 {
		return nil, errors.New("stack: at least one backend instance")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s = &Stack{cfg: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Cert, s.Key, err = selfSigned(cfg.Work); err != nil {
		return nil, err
	}
	qrKey := make([]byte, 32)
	if _, err := rand.Read(qrKey); err != nil {
		return nil, err
	}
	runtimeDir := filepath.Join(cfg.State, "backend")
	if err := os.MkdirAll(runtimeDir, 0o700); err != nil {
		return nil, err
	}
	s.backendEnv = []string{
		"DATABASE_URL=" + cfg.DatabaseURL, "REDIS_URL=" + cfg.RedisURL,
		"AUTH_BCRYPT_COST=" + strconv.Itoa(cfg.BcryptCost),
		"QR_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(qrKey), "QR_TOKEN_TTL=2m",
		"LOG_LEVEL=warn", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=5s",
	}
	if s.Fixture, err = s.provision(ctx, runtimeDir); err != nil {
		return nil, err
	}

	ports, err := freePorts(cfg.Backends + 5)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Backends {
		s.addrs = append(s.addrs, "127.0.0.1:"+strconv.Itoa(ports[i]))
	}
	gwPort, adminPort, nginxPort, ceilingPort := ports[cfg.Backends], ports[cfg.Backends+1], ports[cfg.Backends+2], ports[cfg.Backends+3]
	for i := range cfg.Backends {
		p, err := s.startBackend(i)
		if err != nil {
			return nil, err
		}
		s.backends = append(s.backends, p)
		if err := waitHTTP(ctx, p, "http://"+s.addrs[i]+"/health/", 60*time.Second); err != nil {
			return nil, err
		}
	}
	cfg.Logf("%d backend instances on %s", cfg.Backends, strings.Join(s.addrs, ", "))

	s.gwURL = "https://127.0.0.1:" + strconv.Itoa(gwPort)
	s.gwAdmin = "http://127.0.0.1:" + strconv.Itoa(adminPort)
	if s.gateway, err = s.startGateway(gwPort, adminPort); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, s.gateway, s.gwAdmin+"/readyz", 60*time.Second); err != nil {
		return nil, err
	}
	if err := s.warmSignIn(ctx); err != nil {
		return nil, err
	}
	cfg.Logf("gateway on %s (admin %s)", s.gwURL, s.gwAdmin)

	if cfg.Nginx != "" {
		s.nginxURL = "https://127.0.0.1:" + strconv.Itoa(nginxPort)
		if s.nginx, err = s.startNginx(nginxPort); err != nil {
			return nil, err
		}
		if err := waitHTTP(ctx, s.nginx, s.nginxURL+"/health/", 30*time.Second); err != nil {
			return nil, err
		}
		cfg.Logf("nginx on %s", s.nginxURL)
	}

	s.ceilingURL = "https://127.0.0.1:" + strconv.Itoa(ceilingPort)
	if s.ceiling, err = startProc("ceiling", filepath.Join(cfg.Work, "ceiling.log"), nil, filepath.Join(cfg.Bin, "benchsrv"),
		"--listen", "127.0.0.1:"+strconv.Itoa(ceilingPort), "--mode", "constant", "--cert", s.Cert, "--key", s.Key); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, s.ceiling, s.ceilingURL+"/", 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// warmSignIn signs a bench student in through the gateway until it
// succeeds: the first requests of a policy with a shared (Redis) budget
// open the store's connections, and the sign-in policy fails closed (503)
// while the store does not answer within its timeout.
func (s *Stack) warmSignIn(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(s.Fixture.Dir, "students.json"))
	if err != nil {
		return err
	}
	var users []map[string]string
	if err := json.Unmarshal(b, &users); err != nil || len(users) == 0 {
		return fmt.Errorf("stack: %s lists no student", filepath.Join(s.Fixture.Dir, "students.json"))
	}
	body, err := json.Marshal(map[string]string{"username": users[0]["username"], "password": s.Fixture.Password})
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: insecureTransport()}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Post(s.gwURL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		status := 0
		if err == nil {
			status = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if status == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stack: a sign-in through the gateway did not succeed within 30s (last status %d, error %v); its log ends:\n%s",
				status, err, s.gateway.Tail(10))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// provision migrates the database, seeds it when empty, creates the
// development keyrings (which seal the seeded personal data) and the
// load-test accounts.
func (s *Stack) provision(ctx context.Context, runtimeDir string) (Fixture, error) {
	cfg := s.cfg
	backend := filepath.Join(cfg.Bin, "backend")
	fx := Fixture{Dir: filepath.Join(cfg.Work, "fixture")}
	steps := [][]string{
		{"migrate", "up"},
		{"seed", "--if-empty", "--students", strconv.Itoa(cfg.SeedStudents), "--weeks", "2"},
		{"keys", "rotate-pii", "--dev", "--runtime-dir", runtimeDir},
		{"accounts", "bench", "--dev", "--students", strconv.Itoa(cfg.Students), "--password-file", filepath.Join(cfg.State, "bench-password"), "--out", fx.Dir},
	}
	for _, args := range steps {
		cfg.Logf("backend %s", strings.Join(args[:min(2, len(args))], " "))
		out, err := runTool(ctx, s.backendEnv, backend, args...)
		if err != nil {
			return fx, fmt.Errorf("stack: provision: %w", err)
		}
		if args[0] == "seed" || args[0] == "accounts" {
			cfg.Logf("%s", strings.TrimSpace(out))
		}
	}
	pw, err := os.ReadFile(filepath.Join(cfg.State, "bench-password"))
	if err != nil {
		return fx, err
	}
	fx.Password = strings.TrimSpace(string(pw))
	return fx, nil
}

func (s *Stack) startBackend(i int) (*Proc, error) {
	return startProc(fmt.Sprintf("backend-%d", i+1), filepath.Join(s.cfg.Work, fmt.Sprintf("backend-%d.log", i+1)), s.backendEnv,
		filepath.Join(s.cfg.Bin, "backend"), "serve", "--dev", "--listen", s.addrs[i], "--runtime-dir", filepath.Join(s.cfg.State, "backend"))
}

// startGateway runs the shipped single-host configuration with the
// addresses of this stack set from the environment.
func (s *Stack) startGateway(port, admin int) (*Proc, error) {
	runtime := filepath.Join(s.cfg.Work, "gateway")
	if err := os.MkdirAll(runtime, 0o700); err != nil {
		return nil, err
	}
	env := []string{
		"GATEWAY__RUNTIME_DIR=" + runtime,
		"GATEWAY__LISTEN__HTTPS=127.0.0.1:" + strconv.Itoa(port),
		"GATEWAY__LISTEN__HTTP=",
		"GATEWAY__LISTEN__ADMIN=127.0.0.1:" + strconv.Itoa(admin),
		"GATEWAY__TLS__CERTIFICATES__0__CERT_FILE=" + s.Cert,
		"GATEWAY__TLS__CERTIFICATES__0__KEY_FILE=" + s.Key,
		"GATEWAY__REDIS__URL=" + s.cfg.RedisURL,
	}
	var jwks []string
	for i, a := range s.addrs {
		env = append(env, fmt.Sprintf("GATEWAY__UPSTREAMS__0__INSTANCES__%d__ADDR=%s", i, a))
		jwks = append(jwks, "http://"+a+"/api/v1/auth/jwks.json")
	}
	env = append(env, "GATEWAY__AUTH__JWKS__URLS="+strings.Join(jwks, ","))
	if s.cfg.Backends < 3 {
		return nil, errors.New("stack: the single-host gateway configuration lists three instances; run at least three backends")
	}
	return startProc("gateway", filepath.Join(s.cfg.Work, "gateway.log"), env, filepath.Join(s.cfg.Bin, "gateway"),
		"--config", filepath.Join(s.cfg.Root, GatewayConfig))
}

// GatewayConfig and NginxConfig are the configurations the stack runs,
// relative to the repository root.
const (
	GatewayConfig = "deploy/config/gateway.single-host.yaml"
	NginxConfig   = "deploy/nginx/bench.conf"
)

// startNginx fills in deploy/nginx/bench.conf and starts nginx in the
// foreground (daemon off), its cache on tmpfs when /dev/shm exists.
func (s *Stack) startNginx(port int) (*Proc, error) {
	prefix := filepath.Join(s.cfg.Work, "nginx")
	cache := filepath.Join(prefix, "cache")
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "campshub360-bench-cache-")
		if err == nil {
			cache = d
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	s.nginxCache = cache
	tmpl, err := os.ReadFile(filepath.Join(s.cfg.Root, NginxConfig))
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for _, a := range s.addrs {
		fmt.Fprintf(&servers, "        server %s max_fails=1 fail_timeout=5s;\n", a)
	}
	s.nginxLog = filepath.Join(prefix, "access.log")
	conf := strings.NewReplacer(
		"@PREFIX@", prefix, "@CACHE_DIR@", cache, "@LISTEN@", "127.0.0.1:"+strconv.Itoa(port),
		"@CERT@", s.Cert, "@KEY@", s.Key, "        @SERVERS@\n", servers.String(),
	).Replace(string(tmpl))
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot write the cache or
		// read the key in the work directory.
		conf = "user root;\n" + conf
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return startProc("nginx", filepath.Join(prefix, "stderr.log"), nil, s.cfg.Nginx, "-p", prefix, "-c", path, "-g", "daemon off;")
}

// Close stops everything the stack started: the edge processes first,
// then the backends.
func (s *Stack) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, p := range []*Proc{s.gateway, s.nginx, s.ceiling} {
		if p != nil {
			p.Stop(syscall.SIGTERM, 10*time.Second)
		}
	}
	for _, p := range s.backends {
		if p != nil {
			p.Stop(syscall.SIGTERM, 10*time.Second)
		}
	}
	if s.nginxCache != "" {
		_ = os.RemoveAll(s.nginxCache)
	}
}

// KillBackend kills instance i (0-based) with SIGKILL, as a crash would.
func (s *Stack) KillBackend(i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStopped
	}
	s.backends[i].Kill()
	return nil
}

// RestartBackend starts instance i again on its address and waits until
// it serves.
func (s *Stack) RestartBackend(ctx context.Context, i int) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStopped
	}
	if !s.backends[i].Exited() {
		s.mu.Unlock()
		return fmt.Errorf("stack: backend %d is running", i+1)
	}
	p, err := s.startBackend(i)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.backends[i] = p
	s.mu.Unlock()
	return waitHTTP(ctx, p, "http://"+s.addrs[i]+"/health/", 60*time.Second)
}

// Target is one thing a scenario runs against.
type Target struct {
	// Name is gateway, nginx, direct or ceiling.
	Name string
	// URL is the base URL.
	URL string
	// Transport marks the ceiling: it answers every request with one
	// constant body, so it only takes a scenario's load shape.
	Transport bool
	// PIDs returns the edge processes whose CPU time and peak RSS the
	// target costs (nginx: its master and workers).
	PIDs func() []int
	// CacheCounts returns the edge cache's lookups so far by outcome;
	// nil for a target without a cache.
	CacheCounts func() (CacheCounts, error)
}

// Targets returns the targets in comparison order: gateway, nginx (when
// started), direct (backend instance 1, plain HTTP), ceiling.
func (s *Stack) Targets() []Target {
	ts := []Target{{
		Name: "gateway", URL: s.gwURL,
		PIDs:        func() []int { return []int{s.gateway.PID()} },
		CacheCounts: func() (CacheCounts, error) { return gatewayCacheCounts(s.gwAdmin + "/metrics") },
	}}
	if s.nginx != nil {
		ts = append(ts, Target{
			Name: "nginx", URL: s.nginxURL, PIDs: s.nginxPIDs,
			CacheCounts: func() (CacheCounts, error) { return nginxCacheCounts(s.nginxLog) },
		})
	}
	ts = append(ts,
		Target{Name: "direct", URL: "http://" + s.addrs[0], PIDs: func() []int {
			s.mu.Lock()
			defer s.mu.Unlock()
			return []int{s.backends[0].PID()}
		}},
		Target{Name: "ceiling", URL: s.ceilingURL, Transport: true, PIDs: func() []int { return []int{s.ceiling.PID()} }},
	)
	return ts
}

// nginxPIDs returns nginx's master and its workers.
func (s *Stack) nginxPIDs() []int {
	pids := []int{s.nginx.PID()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.nginx.PID(), s.nginx.PID()))
	if err == nil {
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// selfSigned writes an ECDSA P-256 certificate for localhost and
// 127.0.0.1, valid for two days, to dir and returns the file paths.
func selfSigned(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "bench.crt"), filepath.Join(dir, "bench.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func insecureTransport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // our own self-signed certificate
}
