package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestWriterBatchesIntoAuditEvents(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := postgres.EnsurePartitions(ctx, db.Pool, now.AddDate(0, -1, 0), now.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(db.Pool, audit.WriterOptions{BatchSize: 7, FlushInterval: 10 * time.Millisecond})
	actor := uuid.New()
	for i := 0; i < 50; i++ {
		err := w.Record(ctx, audit.Event{
			ActorID: actor, Action: "student.update", Entity: "student", EntityID: "s-1",
			Before: json.RawMessage(`{"status":"ACTIVE"}`), After: json.RawMessage(`{"status":"SUSPENDED"}`),
			IP: netip.MustParseAddr("192.0.2.7"), RequestID: "req-1",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	var ip, after string
	if err := db.Pool.QueryRow(ctx, `SELECT count(*), min(host(ip)), min(after::text) FROM audit_events WHERE actor_id = $1`, actor).Scan(&n, &ip, &after); err != nil {
		t.Fatal(err)
	}
	if n != 50 || ip != "192.0.2.7" || !strings.Contains(after, "SUSPENDED") {
		t.Fatalf("rows=%d ip=%s after=%s", n, ip, after)
	}
	if err := w.Record(ctx, audit.Event{Action: "student.update", Entity: "student", EntityID: "1"}); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("record after close: %v", err)
	}
}

func TestWriterRejectsInvalidAndSpillsOnFailure(t *testing.T) {
	db := testdb.New(t) // no partitions for the event's month: the write must fail
	var logs syncBuf
	w := audit.NewWriter(db.Pool, audit.WriterOptions{FlushInterval: 5 * time.Millisecond, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err := w.Record(context.Background(), audit.Event{Action: "Bad Action", Entity: "x", EntityID: "1"}); !errors.Is(err, audit.ErrInvalid) {
		t.Fatalf("invalid event accepted: %v", err)
	}
	at := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := w.Record(context.Background(), audit.Event{At: at, Action: "leave.approve", Entity: "leave_application", EntityID: "l-9"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"entity_id":"l-9"`) || !strings.Contains(logs.String(), "audit batch write failed") {
		t.Fatalf("failed event not spilled to the log: %s", logs.String())
	}
}
