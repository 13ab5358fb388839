package observe

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AccessLog writes access-log lines (one JSON object per line) through a
// buffer that is flushed every flush interval, when it fills, and on Close,
// so that logging a request costs a memory copy under a mutex rather than
// a write system call. Lines are built by the caller in a Line, which
// comes from a pool: the steady state allocates nothing. Safe for
// concurrent use.
type AccessLog struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closed bool
	lines  sync.Pool
	stop   chan struct{}
	done   chan struct{}
}

// NewAccessLog returns an AccessLog writing to out with a buffer of
// bufBytes (64 KiB when <= 0), flushed every flushEvery (1 s when <= 0) by
// a goroutine that Close stops. Write errors are dropped: an access log
// must never fail or slow a request.
func NewAccessLog(out io.Writer, bufBytes int, flushEvery time.Duration) *AccessLog {
	if bufBytes <= 0 {
		bufBytes = 64 << 10
	}
	if flushEvery <= 0 {
		flushEvery = time.Second
	}
	l := &AccessLog{w: bufio.NewWriterSize(out, bufBytes), stop: make(chan struct{}), done: make(chan struct{})}
	l.lines.New = func() any { return &Line{b: make([]byte, 0, 512)} }
	go l.flusher(flushEvery)
	return l
}

func (l *AccessLog) flusher(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			return
		}
	}
}

// Flush writes out the buffered lines.
func (l *AccessLog) Flush() {
	l.mu.Lock()
	_ = l.w.Flush()
	l.mu.Unlock()
}

// Close stops the flusher and writes out what is buffered. Lines written
// after Close are dropped. Close is idempotent.
func (l *AccessLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.w.Flush()
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return err
}

// Begin returns an empty line that must be finished with Commit.
func (l *AccessLog) Begin() *Line {
	ln := l.lines.Get().(*Line)
	ln.b = append(ln.b[:0], '{')
	return ln
}

// Commit appends the closing brace and newline, writes the line to the
// buffer and returns the Line to the pool.
func (l *AccessLog) Commit(ln *Line) {
	ln.b = append(ln.b, '}', '\n')
	l.mu.Lock()
	if !l.closed {
		_, _ = l.w.Write(ln.b)
	}
	l.mu.Unlock()
	if cap(ln.b) <= 16<<10 {
		l.lines.Put(ln)
	}
}

// Line is one JSON object under construction. Field names are written as
// given (callers pass constant, JSON-safe names); string values are
// escaped per RFC 8259 §7 with invalid UTF-8 replaced by U+FFFD. Not safe
// for concurrent use.
type Line struct{ b []byte }

func (ln *Line) key(k string) {
	if len(ln.b) > 1 {
		ln.b = append(ln.b, ',')
	}
	ln.b = append(ln.b, '"')
	ln.b = append(ln.b, k...)
	ln.b = append(ln.b, '"', ':')
}

// Str adds a string field.
func (ln *Line) Str(k, v string) {
	ln.key(k)
	ln.b = appendJSONString(ln.b, v)
}

// Bytes adds a string field from bytes.
func (ln *Line) Bytes(k string, v []byte) {
	ln.key(k)
	ln.b = appendJSONString(ln.b, v)
}

// Int adds an integer field.
func (ln *Line) Int(k string, v int64) {
	ln.key(k)
	ln.b = strconv.AppendInt(ln.b, v, 10)
}

// Millis adds a duration as fractional milliseconds (microsecond
// resolution).
func (ln *Line) Millis(k string, d time.Duration) {
	ln.key(k)
	us := d.Microseconds()
	if us < 0 {
		ln.b = append(ln.b, '-')
		us = -us
	}
	ln.b = strconv.AppendInt(ln.b, us/1000, 10)
	ln.b = append(ln.b, '.')
	frac := us % 1000
	ln.b = append(ln.b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// Time adds a timestamp in RFC 3339 UTC with milliseconds.
func (ln *Line) Time(k string, t time.Time) {
	ln.key(k)
	ln.b = append(ln.b, '"')
	ln.b = t.UTC().AppendFormat(ln.b, "2006-01-02T15:04:05.000Z07:00")
	ln.b = append(ln.b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
