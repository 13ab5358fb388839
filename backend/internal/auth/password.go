package auth

import (
	"bufio"
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// MaxPasswordBytes is bcrypt's input limit: longer passwords are refused by
// the policy rather than silently truncated.
const MaxPasswordBytes = 72

//go:embed common_passwords.txt
var commonPasswordsFile string

// Policy is the password policy (NIST SP 800-63B §5.1.1.2: a minimum
// length, no composition rules, a deny list of common and breached-style
// passwords, nothing derived from the account's own names). Safe for
// concurrent use.
type Policy struct {
	minLength int
	deny      map[string]struct{}
}

// NewPolicy returns the policy with the given minimum length in characters
// (8..64) and the embedded deny list.
func NewPolicy(minLength int) (*Policy, error) {
	if minLength < 8 || minLength > 64 {
		return nil, fmt.Errorf("auth: password minimum length %d outside 8..64", minLength)
	}
	p := &Policy{minLength: minLength, deny: map[string]struct{}{}}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsFile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p.deny[strings.ToLower(line)] = struct{}{}
	}
	return p, nil
}

// MinLength returns the minimum length in characters.
func (p *Policy) MinLength() int { return p.minLength }

// Check returns nil when pw is acceptable for an account known by the
// given names (e-mail address, roll number...), else a *PolicyError listing
// every failed rule.
func (p *Policy) Check(pw string, names ...string) error {
	var reasons []string
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		reasons = append(reasons, "must be valid UTF-8 text")
	case n < p.minLength:
		reasons = append(reasons, fmt.Sprintf("must be at least %d characters", p.minLength))
	}
	if len(pw) > MaxPasswordBytes {
		reasons = append(reasons, fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes))
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			reasons = append(reasons, "must not contain control characters")
			break
		}
	}
	lower := strings.ToLower(pw)
	if p.common(lower) {
		reasons = append(reasons, "is too common: it appears in lists of breached passwords")
	}
	if distinct(lower) < 5 {
		reasons = append(reasons, "must use at least 5 different characters")
	}
	for _, name := range names {
		local, _, _ := strings.Cut(strings.ToLower(name), "@")
		if len(local) >= 4 && strings.Contains(lower, local) {
			reasons = append(reasons, "must not contain your user name")
			break
		}
	}
	if len(reasons) > 0 {
		return &PolicyError{Reasons: reasons}
	}
	return nil
}

// common reports whether pw (lower case) is on the deny list, as is or
// with its trailing digits and symbols removed.
func (p *Policy) common(pw string) bool {
	if _, ok := p.deny[pw]; ok {
		return true
	}
	base := strings.TrimRightFunc(pw, func(r rune) bool { return !unicode.IsLetter(r) })
	if len(base) >= 4 && base != pw {
		if _, ok := p.deny[base]; ok {
			return true
		}
	}
	return false
}

func distinct(s string) int {
	seen := map[rune]struct{}{}
	for _, r := range s {
		seen[r] = struct{}{}
	}
	return len(seen)
}

// Hasher hashes and checks passwords with bcrypt at a fixed cost, bounding
// how many hashes run at once (bcrypt is CPU-bound by design: a sign-in
// burst must queue, not starve the API). Checking against a missing hash
// costs the same as a real check, so unknown accounts answer in the same
// time as known ones. Safe for concurrent use.
type Hasher struct {
	cost  int
	slots chan struct{}
	wait  time.Duration
	dummy []byte
}

// NewHasher returns a Hasher at bcrypt cost (4..31), running at most
// concurrency hashes at once, each waiting at most wait for a slot
// (ErrBusy after that).
func NewHasher(cost, concurrency int, wait time.Duration) (*Hasher, error) {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if concurrency < 1 {
		return nil, errors.New("auth: hasher concurrency must be positive")
	}
	var pw [24]byte
	if _, err := io.ReadFull(rand.Reader, pw[:]); err != nil {
		return nil, err
	}
	dummy, err := bcrypt.GenerateFromPassword(pw[:], cost)
	if err != nil {
		return nil, err
	}
	return &Hasher{cost: cost, slots: make(chan struct{}, concurrency), wait: wait, dummy: dummy}, nil
}

// Cost returns the bcrypt cost of new hashes.
func (h *Hasher) Cost() int { return h.cost }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ErrBusy
	}
}

// Hash returns the bcrypt hash of pw (at most MaxPasswordBytes).
func (h *Hasher) Hash(ctx context.Context, pw string) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.slots }()
	return bcrypt.GenerateFromPassword([]byte(pw), h.cost)
}

// Compare reports whether pw matches hash. A nil hash (no such account)
// is compared against a dummy hash of the same cost and reports false.
// Passwords longer than MaxPasswordBytes never match (and cost the same).
// stale reports that the hash's cost differs from the configured one, so
// the caller may store a fresh hash after a successful check.
func (h *Hasher) Compare(ctx context.Context, hash []byte, pw string) (ok, stale bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer func() { <-h.slots }()
	target := hash
	if target == nil {
		target = h.dummy
	}
	in := []byte(pw)
	if len(in) > MaxPasswordBytes {
		in = in[:MaxPasswordBytes]
		target = h.dummy
	}
	match := bcrypt.CompareHashAndPassword(target, in) == nil
	if hash == nil || len(pw) > MaxPasswordBytes || !match {
		return false, false, nil
	}
	cost, err := bcrypt.Cost(hash)
	return true, err == nil && cost != h.cost, nil
}

// oneTimeAlphabet avoids look-alike characters (0/O, 1/l/I).
const oneTimeAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// NewOneTimePassword returns a random password of 20 characters from a
// 56-symbol alphabet (about 116 bits), grouped in fours with dashes for
// reading it out: "k7Fq-9mXp-...". random is crypto/rand when nil.
func NewOneTimePassword(random io.Reader) (string, error) {
	if random == nil {
		random = rand.Reader
	}
	var b strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < 20; {
		if _, err := io.ReadFull(random, buf); err != nil {
			return "", err
		}
		// Rejection sampling keeps the choice uniform: 256 - 256%56 = 224.
		if buf[0] >= 224 {
			continue
		}
		if n > 0 && n%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(oneTimeAlphabet[int(buf[0])%len(oneTimeAlphabet)])
		n++
	}
	return b.String(), nil
}
