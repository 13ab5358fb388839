// Package scenario reads load scenarios from YAML and turns them into the
// requests of a run.
//
// A scenario names a target, a load shape (an open-loop rate, steps or ramp,
// or a closed loop of N connections), hard bounds (duration, request count),
// a weighted mix of request templates, and optionally: an auth block (log
// one or more named pools of users in once before the run and reuse their
// tokens), parameters (values listed inline, read from a file, plucked from
// a JSON response fetched once before the run, or captured from responses
// during the run), setup and teardown steps run around every run (once per
// user of a pool, e.g. faculty opening their sessions), source addresses
// for the connections (many client IPs on loopback), and concurrent
// traffic groups with their own load shapes (normal clients beside an
// abusive one). Parse decodes strictly (unknown keys, duplicate keys and
// wrong types are errors) and validates everything, reporting every problem
// with its field path and line. Prepare does the I/O (files, logins,
// fetches) and returns a Plan, whose Run runs setup, the load of every
// group and teardown.
package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// File is the YAML form of a scenario, as decoded. Optional scalars are
// pointers so that an explicit zero is told apart from an absent key.
// Durations are Go duration strings ("500ms", "10s", "2m").
type File struct {
	// Name labels reports; defaults to the file name without extension.
	Name string `yaml:"name"`
	// Description is free text.
	Description string `yaml:"description"`
	// Target is the base URL (http or https, host, port, optional path
	// prefix); --target overrides it.
	Target string `yaml:"target"`
	// Insecure skips TLS certificate verification.
	Insecure bool `yaml:"insecure"`
	// Mode is "open" or "closed"; by default open when rate, steps or ramp
	// is set, else closed.
	Mode string `yaml:"mode"`
	// Rate is an open-loop constant rate in requests per second, for
	// Duration.
	Rate *float64 `yaml:"rate"`
	// Steps are open-loop stages run back to back, each a constant rate or
	// a ramp.
	Steps []StepSpec `yaml:"steps"`
	// Ramp is an open-loop linear ramp.
	Ramp *RampSpec `yaml:"ramp"`
	// Connections is the connection pool (closed loop: the concurrency);
	// default 32.
	Connections *int `yaml:"connections"`
	// Duration bounds the run; default 10s (with steps or a ramp: their
	// total length).
	Duration string `yaml:"duration"`
	// MaxRequests bounds the run; default 1,000,000.
	MaxRequests *int64 `yaml:"max_requests"`
	// Timeout bounds each request; default 5s.
	Timeout string `yaml:"timeout"`
	// ThinkTime is a closed-loop pause after each response: "100ms", or
	// "50ms..200ms" for a uniform random pause.
	ThinkTime string `yaml:"think_time"`
	// Timezone is the IANA zone of {today}; default UTC.
	Timezone string `yaml:"timezone"`
	// Seed fixes the random choices (mix, parameters, think time).
	Seed *uint64 `yaml:"seed"`
	// Headers are sent with every request (templates).
	Headers map[string]string `yaml:"headers"`
	// Auth logs users in before the run.
	Auth *AuthSpec `yaml:"auth"`
	// Params are the named parameter sources of the templates.
	Params map[string]ParamSpec `yaml:"params"`
	// Requests is the weighted request mix; at least one unless Groups
	// is set.
	Requests []RequestSpec `yaml:"requests"`
	// Sources are the local addresses new connections bind, in turn: IPs
	// or ranges "127.0.1.1-127.0.1.200" (loopback only unless remote
	// targets are allowed). Each connection is one client address as the
	// target sees it. Default: the system's choice.
	Sources []string `yaml:"sources"`
	// Setup steps run before every run, in order; each runs once per user
	// of its pool (or once without a pool). A step that fails stops the
	// run before any load.
	Setup []RequestSpec `yaml:"setup"`
	// Teardown steps run after every run, also after an interrupted or
	// failed one, in order, like Setup.
	Teardown []RequestSpec `yaml:"teardown"`
	// Groups are traffic classes run concurrently, each with its own load
	// shape, connections, sources and request mix, reported separately.
	// With groups, the top level has no load shape, connections, sources
	// or requests of its own; target, bounds, headers, auth, params, setup
	// and teardown are shared.
	Groups []GroupSpec `yaml:"groups"`
}

// GroupSpec is one concurrent traffic class of a scenario; its fields mean
// what the File fields of the same names mean.
type GroupSpec struct {
	// Name labels the group's results ("SCENARIO/NAME"); required, unique.
	Name        string     `yaml:"name"`
	Mode        string     `yaml:"mode"`
	Rate        *float64   `yaml:"rate"`
	Steps       []StepSpec `yaml:"steps"`
	Ramp        *RampSpec  `yaml:"ramp"`
	Connections *int       `yaml:"connections"`
	// MaxRequests bounds this group; default the scenario's.
	MaxRequests *int64            `yaml:"max_requests"`
	ThinkTime   string            `yaml:"think_time"`
	Sources     []string          `yaml:"sources"`
	Headers     map[string]string `yaml:"headers"`
	Requests    []RequestSpec     `yaml:"requests"`
}

// StepSpec is one open-loop stage: either Rate (constant) or From and To (a
// linear ramp), over Duration.
type StepSpec struct {
	// Rate is a constant rate in requests per second (0: a pause).
	Rate *float64 `yaml:"rate"`
	// From and To are the rates at the start and end of a ramp.
	From *float64 `yaml:"from"`
	To   *float64 `yaml:"to"`
	// Duration of the step; required.
	Duration string `yaml:"duration"`
}

// RampSpec is a linear ramp from From to To requests per second over
// Duration.
type RampSpec struct {
	// From and To are rates in requests per second; required.
	From *float64 `yaml:"from"`
	To   *float64 `yaml:"to"`
	// Duration of the ramp; required.
	Duration string `yaml:"duration"`
}

// AuthSpec configures logging in users before the run. Each user logs in
// once with a JSON body {UsernameField: username, PasswordField: password};
// the token plucked from the response is sent on every request with auth as
// "Header: Scheme token". Users come in one pool (Users, UsersFile,
// Generate) or in named Pools (faculty, students), not both.
type AuthSpec struct {
	// Login is the login path; default /api/v1/auth/login.
	Login string `yaml:"login"`
	// Method of the login request; default POST.
	Method string `yaml:"method"`
	// UsernameField names the JSON body field of the username; default
	// username.
	UsernameField string `yaml:"username_field"`
	// PasswordField names the JSON body field of the password; default
	// password.
	PasswordField string `yaml:"password_field"`
	// TokenField is a pluck path to the token in the login response;
	// default access_token.
	TokenField string `yaml:"token_field"`
	// Header carrying the token; default Authorization.
	Header string `yaml:"header"`
	// Scheme prefixes the token; default Bearer; "" sends the bare token.
	Scheme *string `yaml:"scheme"`
	// Users lists users inline: maps with username and password and any
	// other fields, which templates reach as {user.FIELD}. A value
	// "${NAME}" is read from the environment variable NAME.
	Users []map[string]string `yaml:"users"`
	// UsersFile is a YAML or JSON file holding such a list, relative to the
	// scenario file.
	UsersFile string `yaml:"users_file"`
	// Generate makes numbered users, e.g. the seeded student0001..0100.
	Generate *GenerateSpec `yaml:"generate"`
	// MaxUsers logs in at most this many of the users; default all.
	MaxUsers *int `yaml:"max_users"`
	// Concurrency of the logins (and of setup and teardown steps);
	// default 4.
	Concurrency *int `yaml:"concurrency"`
	// Password is the password of users listed without one ("${NAME}"
	// reads the environment).
	Password string `yaml:"password"`
	// Pools are named user pools; requests and steps name theirs with
	// pool. Instead of Users, UsersFile and Generate.
	Pools map[string]PoolSpec `yaml:"pools"`
	// Capture stores values of each login response in the user's fields:
	// "user.FIELD": pluck path, e.g. {user.refresh_token: refresh_token}.
	Capture map[string]string `yaml:"capture"`
}

// PoolSpec is one named pool of users; its fields mean what the AuthSpec
// fields of the same names mean. UsersFile may contain ${NAME} (read from
// the environment), e.g. "${BENCH_FIXTURE}/students.json".
type PoolSpec struct {
	Users     []map[string]string `yaml:"users"`
	UsersFile string              `yaml:"users_file"`
	Generate  *GenerateSpec       `yaml:"generate"`
	Password  string              `yaml:"password"`
	MaxUsers  *int                `yaml:"max_users"`
}

// GenerateSpec makes Count users numbered from Start: Username is a printf
// format with one integer verb ("student%04d@campus.test"); every user gets
// Password (which may be "${NAME}").
type GenerateSpec struct {
	// Username is a printf format with one integer verb.
	Username string `yaml:"username"`
	// Password of every generated user; "${NAME}" reads the environment.
	Password string `yaml:"password"`
	// Count of users, > 0.
	Count int `yaml:"count"`
	// Start is the first number, >= 0.
	Start int `yaml:"start"`
}

// ParamSpec is one parameter source; exactly one of Values, File, URL and
// Captured.
type ParamSpec struct {
	// Values lists the values inline.
	Values []string `yaml:"values"`
	// File holds one value per line (blank lines and lines starting with #
	// skipped), relative to the scenario file.
	File string `yaml:"file"`
	// URL is a path on the target fetched with GET once before the run
	// (built-in placeholders allowed, e.g. ?date={today}); Pluck selects
	// the values in its JSON response, e.g. items[].id.
	URL string `yaml:"url"`
	// Pluck is the JSON path of the values in the URL's response.
	Pluck string `yaml:"pluck"`
	// Auth sends the first user's token with the URL fetch; default true
	// when the scenario has auth.
	Auth *bool `yaml:"auth"`
	// Pick is "random" (default: uniform per request) or "sequence" (round
	// robin over all workers).
	Pick string `yaml:"pick"`
	// Captured makes the parameter a variable set by the capture of setup
	// steps and requests during the run; it holds the latest value.
	Captured bool `yaml:"captured"`
	// Key, with Captured, keeps one value per key: a template of user
	// fields (e.g. "{user.section_id}") evaluated for the user of the
	// capturing response and again for the user of each request reading
	// the parameter, so a student reads the token their section's faculty
	// member captured.
	Key string `yaml:"key"`
}

// RequestSpec is one entry of the request mix.
type RequestSpec struct {
	// Name labels the entry in reports; default "METHOD path".
	Name string `yaml:"name"`
	// Weight is the relative frequency; default 1; > 0.
	Weight *float64 `yaml:"weight"`
	// Method; default GET.
	Method string `yaml:"method"`
	// Path (with query) appended to the target URL; a template.
	Path string `yaml:"path"`
	// Headers of this entry (templates), over the scenario's.
	Headers map[string]string `yaml:"headers"`
	// Body template; sent with Content-Type application/json unless a
	// Content-Type header is set.
	Body string `yaml:"body"`
	// Auth sends a logged-in user's token; default true when the scenario
	// has auth.
	Auth *bool `yaml:"auth"`
	// Expect lists the statuses counted as success; default any below 400.
	Expect []int `yaml:"expect"`
	// Pool names the auth pool the request's user comes from; required
	// when auth has several pools and the request has a user.
	Pool string `yaml:"pool"`
	// User is how the request's user is drawn: "random" (default) or
	// "sequence" (every user in turn, e.g. each student checking in once).
	// Setup and teardown steps run once per user and take no User.
	User string `yaml:"user"`
	// NewConnection sends the request on a connection of its own, closed
	// after the response (Connection: close): a client arriving, with its
	// TCP and TLS handshakes (and, with sources, its own address).
	NewConnection bool `yaml:"new_connection"`
	// Capture stores values of a successful response: keys are captured
	// parameter names or "user.FIELD" (the request's user), values pluck
	// paths into the JSON body, e.g. {qr_token: token}. A request
	// capturing into user fields holds its user exclusively while in
	// flight (a refresh token is used once).
	Capture map[string]string `yaml:"capture"`
}

// Problem is one thing wrong with a scenario file.
type Problem struct {
	// Path is the field path, e.g. "requests[2].weight"; empty for the
	// file as a whole.
	Path string
	// Line and Column locate the problem in the file, 1-based; 0 when
	// unknown.
	Line, Column int
	// Message says what is wrong.
	Message string
}

// String formats the problem as "LINE:COL: PATH: MESSAGE".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, "%d:", p.Column)
		}
		b.WriteString(" ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error reports every problem of a scenario file. Parse and Load return it
// (as *Error) for syntax, decoding and validation failures alike.
type Error struct {
	// File names the scenario (its path, or the name given to Parse).
	File string
	// Problems in file order.
	Problems []Problem
}

// Error formats one "FILE:LINE:COL: PATH: MESSAGE" line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = e.File + ":" + p.String()
	}
	if len(lines) == 1 {
		return "scenario " + lines[0]
	}
	return fmt.Sprintf("scenario %s: %d problems:\n  %s", e.File, len(lines), strings.Join(lines, "\n  "))
}

// Load reads and parses the scenario file at path (see Parse). Relative
// files named in it are resolved against its directory.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	sc.Dir = filepath.Dir(path)
	return sc, nil
}

// maxFileSize bounds a scenario file.
const maxFileSize = 1 << 20

// Parse decodes and validates a scenario. name labels errors and is the
// default scenario name (its base without extension). It fails with an
// *Error listing every problem: YAML syntax, unknown or duplicate keys,
// wrong types, anchors and aliases (not supported), more than one document,
// and every validation failure, each with its field path and line.
func Parse(name string, data []byte) (*Scenario, error) {
	fail := func(ps ...Problem) error { return &Error{File: name, Problems: ps} }
	if len(data) > maxFileSize {
		return nil, fail(Problem{Message: fmt.Sprintf("file larger than %d bytes", maxFileSize)})
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fail(yamlProblem(err))
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, fail(Problem{Message: "empty scenario"})
	case len(docs) > 1:
		return nil, fail(Problem{Line: tokenLine(docs[1].Body), Message: "more than one YAML document"})
	}
	body := docs[0].Body
	if aliases := ast.Filter(ast.AliasType, body); len(aliases) > 0 {
		ps := make([]Problem, 0, len(aliases))
		for _, a := range aliases {
			ps = append(ps, Problem{Line: tokenLine(a), Column: tokenColumn(a), Message: "aliases (*name) are not supported; repeat the value"})
		}
		return nil, fail(ps...)
	}
	var f File
	if err := yaml.NodeToValue(body, &f, yaml.Strict()); err != nil {
		return nil, fail(yamlProblem(err))
	}
	return compile(name, &f, body)
}

// Compile validates a File built in code (no YAML), as Parse does; its
// problems carry field paths but no lines. name labels errors and is the
// default scenario name.
func Compile(name string, f *File) (*Scenario, error) {
	return compile(name, f, nil)
}

// compile validates f; root, when set, is its YAML body for positions.
func compile(name string, f *File, root ast.Node) (*Scenario, error) {
	if f.Name == "" {
		base := filepath.Base(name)
		f.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	v := &validator{root: root}
	sc := v.compile(f)
	if len(v.problems) > 0 {
		slices.SortStableFunc(v.problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, &Error{File: name, Problems: v.problems}
	}
	return sc, nil
}

// yamlProblem turns a go-yaml error into a Problem with its position.
func yamlProblem(err error) Problem {
	var ye yaml.Error
	if errors.As(err, &ye) {
		p := Problem{Message: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
		return p
	}
	return Problem{Message: err.Error()}
}

func tokenLine(n ast.Node) int {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func tokenColumn(n ast.Node) int {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0
	}
	return n.GetToken().Position.Column
}

// fieldPath is a path of map keys (string) and sequence indices (int).
type fieldPath []any

func (p fieldPath) String() string {
	var b strings.Builder
	for _, s := range p {
		switch s := s.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		case string:
			if b.Len() > 0 {
				b.WriteString(".")
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

// with returns p extended by segs, without sharing p's backing array.
func (p fieldPath) with(segs ...any) fieldPath {
	return append(slices.Clip(p), segs...)
}

// locate returns the line and column of the node at p, or of its nearest
// ancestor present in the document.
func locate(root ast.Node, p fieldPath) (int, int) {
	if root == nil {
		return 0, 0
	}
	for n := len(p); n >= 0; n-- {
		b := (&yaml.PathBuilder{}).Root()
		for _, s := range p[:n] {
			switch s := s.(type) {
			case int:
				b = b.Index(uint(s))
			case string:
				b = b.Child(s)
			}
		}
		node, err := b.Build().FilterNode(root)
		if err == nil && node != nil {
			return tokenLine(node), tokenColumn(node)
		}
	}
	return 0, 0
}
