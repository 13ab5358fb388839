package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors Record returns.
var (
	// ErrInvalid: the event does not satisfy the audit_events constraints.
	ErrInvalid = errors.New("audit: invalid event")
	// ErrSaturated: the queue is full (the database is slower than the
	// event rate); the event was logged instead.
	ErrSaturated = errors.New("audit: queue full")
	// ErrClosed: the writer is closed; the event was logged instead.
	ErrClosed = errors.New("audit: writer closed")
)

var (
	actionRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{1,63}$`)
	entityRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)
)

// Validate checks e against the audit_events constraints.
func Validate(e Event) error {
	switch {
	case !actionRE.MatchString(e.Action):
		return fmt.Errorf("%w: action %q", ErrInvalid, e.Action)
	case !entityRE.MatchString(e.Entity):
		return fmt.Errorf("%w: entity %q", ErrInvalid, e.Entity)
	case e.EntityID == "":
		return fmt.Errorf("%w: empty entity id", ErrInvalid)
	case len(e.RequestID) > 64:
		return fmt.Errorf("%w: request id longer than 64", ErrInvalid)
	case e.Before != nil && !json.Valid(e.Before), e.After != nil && !json.Valid(e.After):
		return fmt.Errorf("%w: before/after is not JSON", ErrInvalid)
	}
	return nil
}

// WriterOptions configure a Writer. Zero values take the defaults noted.
type WriterOptions struct {
	// QueueSize bounds events waiting to be written (default 65536).
	QueueSize int
	// BatchSize is the most events one COPY writes (default 1000).
	BatchSize int
	// FlushInterval is the longest an event waits in the queue before a
	// write starts (default 200ms).
	FlushInterval time.Duration
	// WriteTimeout bounds one batch write (default 5s).
	WriteTimeout time.Duration
	// Log receives events that could not be written (as JSON, so they are
	// never lost silently) and write errors.
	Log *slog.Logger
	// Now is the clock stamping events without At (time.Now when nil).
	Now func() time.Time
}

// Writer is the Recorder backed by PostgreSQL: Record queues, a single
// background goroutine writes batches with COPY (one round trip per
// batch, never on the request path). A failed batch is retried once;
// then its events are logged at error level with every field, so the
// trail survives in the logs. Safe for concurrent use.
type Writer struct {
	pool *pgxpool.Pool
	o    WriterOptions
	ch   chan Event

	mu     sync.RWMutex // guards closed against Record's send
	closed bool
	done   chan struct{}
}

// NewWriter starts a Writer on pool. Close stops it.
func NewWriter(pool *pgxpool.Pool, o WriterOptions) *Writer {
	if o.QueueSize <= 0 {
		o.QueueSize = 65536
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Writer{pool: pool, o: o, ch: make(chan Event, o.QueueSize), done: make(chan struct{})}
	go w.loop()
	return w
}

// Record implements Recorder. It never blocks: a full queue or a closed
// writer logs the event and returns ErrSaturated or ErrClosed.
func (w *Writer) Record(_ context.Context, e Event) error {
	if err := Validate(e); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = w.o.Now()
	}
	e.At = e.At.UTC()
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.spill("audit writer closed", []Event{e}, nil)
		return ErrClosed
	}
	select {
	case w.ch <- e:
		return nil
	default:
		w.spill("audit queue full", []Event{e}, nil)
		return ErrSaturated
	}
}

// Close stops accepting events, writes everything queued (bounded by
// ctx) and stops the background goroutine. Events still queued when ctx
// ends are logged.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	batch := make([]Event, 0, w.o.BatchSize)
	t := time.NewTimer(w.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case e, ok := <-w.ch:
			if !ok {
				w.flush(batch)
				return
			}
			batch = append(batch, e)
			if len(batch) < w.o.BatchSize {
				continue
			}
		case <-t.C:
		}
		w.flush(batch)
		batch = batch[:0]
		t.Reset(w.o.FlushInterval)
	}
}

func (w *Writer) flush(batch []Event) {
	if len(batch) == 0 {
		return
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if err = w.write(batch); err == nil {
			return
		}
	}
	w.spill("audit batch write failed", batch, err)
}

var columns = []string{"id", "at", "actor_id", "action", "entity", "entity_id", "before", "after", "ip", "request_id"}

func (w *Writer) write(batch []Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.o.WriteTimeout)
	defer cancel()
	_, err := w.pool.CopyFrom(ctx, pgx.Identifier{"audit_events"}, columns, pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
		e := batch[i]
		var actor, ip, reqID any
		if e.ActorID != uuid.Nil {
			actor = e.ActorID
		}
		if e.IP.IsValid() {
			ip = netip.PrefixFrom(e.IP, e.IP.BitLen())
		}
		if e.RequestID != "" {
			reqID = e.RequestID
		}
		return []any{uuid.Must(uuid.NewV7()), e.At, actor, e.Action, e.Entity, e.EntityID, jsonOrNil(e.Before), jsonOrNil(e.After), ip, reqID}, nil
	}))
	return err
}

func jsonOrNil(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// spill logs events that could not be written, one line each.
func (w *Writer) spill(msg string, events []Event, err error) {
	for _, e := range events {
		attrs := []any{"at", e.At, "actor_id", e.ActorID.String(), "action", e.Action, "entity", e.Entity,
			"entity_id", e.EntityID, "request_id", e.RequestID}
		if e.IP.IsValid() {
			attrs = append(attrs, "ip", e.IP.String())
		}
		if e.Before != nil {
			attrs = append(attrs, "before", string(e.Before))
		}
		if e.After != nil {
			attrs = append(attrs, "after", string(e.After))
		}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		w.o.Log.Error(msg, attrs...)
	}
}
