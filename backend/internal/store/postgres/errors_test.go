package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/backend/internal/testdb"
)

// TestUnstorableTextIsBadInput checks the backstop behind the API's
// input checks: text PostgreSQL refuses (NUL, bytes that are not UTF-8:
// SQLSTATE 22021) reaching a store method is domain.ErrUnstorableText (a
// 400), never an internal error, whichever way the method wraps errors.
func TestUnstorableTextIsBadInput(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := ctxT(t)
	store := postgres.NewStore(db.Pool, postgres.StoreOptions{Timeout: 5 * time.Second})
	auth := postgres.NewAuthStore(db.Pool, 5*time.Second)
	const nul = "ab\x00cd"
	_, err := store.ListStudents(ctx, domain.All(), domain.StudentQuery{Page: domain.PageQuery{Limit: 2}, Filter: domain.StudentFilter{Q: nul}})
	checkUnstorable(t, "ListStudents with NUL", err)
	_, err = store.ListFaculty(ctx, domain.FacultyQuery{Page: domain.PageQuery{Limit: 2}, Q: nul})
	checkUnstorable(t, "ListFaculty with NUL", err)
	for _, bad := range []string{nul, "ab\xffcd"} {
		_, err = auth.AccountByLogin(ctx, bad)
		checkUnstorable(t, "AccountByLogin "+bad, err)
	}
	// Other errors keep their meaning.
	if _, err := store.ListStudents(ctx, domain.All(), domain.StudentQuery{Page: domain.PageQuery{Limit: 2}, Filter: domain.StudentFilter{Q: "ab"}}); err != nil {
		t.Fatalf("a valid search: %v", err)
	}
}

func checkUnstorable(t *testing.T, what string, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	switch {
	case !errors.Is(err, domain.ErrUnstorableText):
		t.Errorf("%s: %v, want ErrUnstorableText", what, err)
	case errors.Is(err, domain.ErrUnavailable):
		t.Errorf("%s: also unavailable: %v", what, err)
	case !errors.As(err, &pgErr) || pgErr.Code != "22021":
		t.Errorf("%s: the cause is not kept for the log: %v", what, err)
	}
}
