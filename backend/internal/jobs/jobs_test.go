package jobs

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/campshub360/edge/backend/internal/audit"
	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

type fakeRunner struct {
	results []postgres.SessionJobResult
	calls   int
}

func (f *fakeRunner) RunSessionJob(context.Context, int) (postgres.SessionJobResult, error) {
	if f.calls >= len(f.results) {
		return postgres.SessionJobResult{Ran: true}, nil
	}
	r := f.results[f.calls]
	f.calls++
	return r, nil
}

type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return audit.Validate(e)
}

type inval struct{ tags []string }

func (i *inval) Invalidate(_ context.Context, tags ...string) { i.tags = append(i.tags, tags...) }

func TestSessionsJobAuditsInvalidatesAndDrainsBacklog(t *testing.T) {
	s1, s2, sec, st := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	full := make([]domain.SessionRef, 2)
	for i := range full {
		full[i] = domain.SessionRef{ID: uuid.New(), SectionID: sec}
	}
	r := &fakeRunner{results: []postgres.SessionJobResult{
		{Ran: true, Closed: full}, // a full batch: run again
		{Ran: true, Opened: []domain.SessionRef{{ID: s1, SectionID: sec}}, Closed: []domain.SessionRef{{ID: s2, SectionID: sec}}, Students: []uuid.UUID{st}},
	}}
	rec, iv := &recorder{}, &inval{}
	run := Sessions(r, rec, iv, 2, slog.New(slog.DiscardHandler))
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.calls != 2 {
		t.Fatalf("%d runs, want 2 (the first batch was full)", r.calls)
	}
	var actions []string
	for _, e := range rec.events {
		actions = append(actions, e.Action)
		if e.ActorID != uuid.Nil {
			t.Fatal("system events have no actor")
		}
	}
	if len(actions) != 4 || !slices.Contains(actions, "session.open") {
		t.Fatalf("audit %v", actions)
	}
	for _, want := range []string{"session:" + s1.String(), "section:" + sec.String(), "summary:student:" + st.String(), "sessions"} {
		if !slices.Contains(iv.tags, want) {
			t.Fatalf("tags %v lack %s", iv.tags, want)
		}
	}
	// Not the leader: nothing recorded.
	rec2 := &recorder{}
	run = Sessions(&fakeRunner{results: []postgres.SessionJobResult{{Ran: false}}}, rec2, nil, 2, slog.New(slog.DiscardHandler))
	if err := run(context.Background()); err != nil || len(rec2.events) != 0 {
		t.Fatalf("non-leader run: %v, %d events", err, len(rec2.events))
	}
}

func TestRunnerRunsAndStops(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var runs, fails atomic.Int32
	r := Start(slog.New(slog.DiscardHandler), m,
		Job{Name: "ok", Interval: time.Millisecond, Run: func(context.Context) error { runs.Add(1); return nil }},
		Job{Name: "bad", Interval: time.Millisecond, Run: func(context.Context) error { fails.Add(1); return errors.New("boom") }},
	)
	deadline := time.Now().Add(10 * time.Second)
	for runs.Load() < 3 || fails.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("jobs did not repeat")
		}
		time.Sleep(time.Millisecond)
	}
	// Stop returns once both loops have ended.
	r.Stop()
}
