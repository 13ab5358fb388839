package rediscache

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/campshub360/edge/backend/internal/domain"
	"github.com/campshub360/edge/backend/internal/tags"
)

// Store decorates a domain.Store with read-through caching of the public
// catalogue lists, student summaries and section reports (TTL), and of
// the term overview and shortage list (at most a minute: every mark
// anywhere in the term changes them, so they are not invalidated per
// write). Every other method goes straight to the inner store. Safe for
// concurrent use.
type Store struct {
	domain.Store
	c        *Client
	ttl      time.Duration
	shortTTL time.Duration
}

// NewStore wraps inner; entries live ttl.
func NewStore(inner domain.Store, c *Client, ttl time.Duration) *Store {
	return &Store{Store: inner, c: c, ttl: ttl, shortTTL: min(ttl, time.Minute)}
}

// through is the read-through: one MGET for the entry and its tags'
// generations, then either the entry (hit) or load, stored stamped with
// the generations read before it ran.
func through[T any](ctx context.Context, s *Store, cache, key string, ttl time.Duration, tagList []string, load func(context.Context) (T, error)) (T, error) {
	if !s.c.usable() {
		s.c.count(cache, "bypass")
		return load(ctx)
	}
	keys := make([]string, 0, len(tagList)+2)
	keys = append(keys, s.c.valPrefix+key, s.c.genPrefix+globalTag)
	for _, t := range tagList {
		keys = append(keys, s.c.genPrefix+t)
	}
	cctx, cancel := s.c.callCtx(ctx)
	vals, err := s.c.rdb.MGet(cctx, keys...).Result()
	cancel()
	if err != nil {
		s.c.failed(err)
		s.c.count(cache, "error")
		return load(ctx)
	}
	s.c.succeeded(ctx)
	var stamp strings.Builder
	for i, v := range vals[1:] {
		if i > 0 {
			stamp.WriteByte(' ')
		}
		if g, ok := v.(string); ok {
			stamp.WriteString(g)
		} else {
			stamp.WriteByte('0')
		}
	}
	if v, ok := vals[0].(string); ok {
		if hdr, body, ok := strings.Cut(v, "\n"); ok && hdr == stamp.String() {
			var out T
			if json.Unmarshal([]byte(body), &out) == nil {
				s.c.count(cache, "hit")
				return out, nil
			}
		}
	}
	s.c.count(cache, "miss")
	out, err := load(ctx)
	if err != nil {
		return out, err
	}
	if body, err := json.Marshal(out); err == nil {
		cctx, cancel := s.c.callCtx(ctx)
		if err := s.c.rdb.Set(cctx, s.c.valPrefix+key, stamp.String()+"\n"+string(body), ttl).Err(); err != nil {
			s.c.failed(err)
		}
		cancel()
	}
	return out, nil
}

// pageKey renders a page position for a cache key.
func pageKey(p domain.PageQuery) string {
	k := strconv.Itoa(p.Limit)
	if p.After != nil {
		k += ":" + p.After.Sort + ":" + p.After.ID.String()
	}
	return k
}

func scopeKey(sc domain.Scope) string {
	return strconv.Itoa(int(sc.Kind)) + ":" + sc.ID.String()
}

func dateKey(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.DateOnly)
}

// ListDepartments implements domain.CatalogueStore through the cache.
func (s *Store) ListDepartments(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Department], error) {
	return through(ctx, s, "catalogue", "departments:"+pageKey(q.Page), s.ttl, []string{tags.Departments},
		func(ctx context.Context) (domain.Page[domain.Department], error) {
			return s.Store.ListDepartments(ctx, q)
		})
}

// ListPrograms implements domain.CatalogueStore through the cache.
func (s *Store) ListPrograms(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Program], error) {
	return through(ctx, s, "catalogue", "programs:"+q.Department+":"+string(q.Level)+":"+pageKey(q.Page), s.ttl,
		[]string{tags.Programs, tags.Departments},
		func(ctx context.Context) (domain.Page[domain.Program], error) { return s.Store.ListPrograms(ctx, q) })
}

// ListCourses implements domain.CatalogueStore through the cache.
func (s *Store) ListCourses(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Course], error) {
	return through(ctx, s, "catalogue", "courses:"+q.Department+":"+pageKey(q.Page), s.ttl,
		[]string{tags.Courses, tags.Departments},
		func(ctx context.Context) (domain.Page[domain.Course], error) { return s.Store.ListCourses(ctx, q) })
}

// ListTerms implements domain.CatalogueStore through the cache.
func (s *Store) ListTerms(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Term], error) {
	return through(ctx, s, "catalogue", "terms:"+pageKey(q.Page), s.ttl, []string{tags.Terms},
		func(ctx context.Context) (domain.Page[domain.Term], error) { return s.Store.ListTerms(ctx, q) })
}

// CurrentTerm implements domain.CatalogueStore through the cache.
func (s *Store) CurrentTerm(ctx context.Context) (domain.Term, error) {
	return through(ctx, s, "catalogue", "terms:current", s.ttl, []string{tags.Terms}, s.Store.CurrentTerm)
}

// ListHolidays implements domain.CatalogueStore through the cache.
func (s *Store) ListHolidays(ctx context.Context, q domain.CatalogueQuery) (domain.Page[domain.Holiday], error) {
	return through(ctx, s, "catalogue", "holidays:"+dateKey(q.From)+":"+dateKey(q.To)+":"+pageKey(q.Page), s.ttl,
		[]string{tags.Holidays},
		func(ctx context.Context) (domain.Page[domain.Holiday], error) { return s.Store.ListHolidays(ctx, q) })
}

// StudentSummary implements domain.ReportStore through the cache, keyed by
// the caller's scope (a faculty member's view is narrower).
func (s *Store) StudentSummary(ctx context.Context, sc domain.Scope, studentID, sectionID uuid.UUID, w domain.Window) (domain.StudentSummary, error) {
	tagList := []string{tags.Summary(studentID), tags.Terms}
	if sectionID != uuid.Nil {
		tagList = append(tagList, tags.Section(sectionID))
	}
	key := "summary:" + scopeKey(sc) + ":" + studentID.String() + ":" + sectionID.String() + ":" + dateKey(w.From) + ":" + dateKey(w.To)
	return through(ctx, s, "summary", key, s.ttl, tagList, func(ctx context.Context) (domain.StudentSummary, error) {
		return s.Store.StudentSummary(ctx, sc, studentID, sectionID, w)
	})
}

// SectionReport implements domain.ReportStore through the cache.
func (s *Store) SectionReport(ctx context.Context, sc domain.Scope, sectionID uuid.UUID, w domain.Window) (domain.SectionReport, error) {
	key := "report:" + scopeKey(sc) + ":" + sectionID.String() + ":" + dateKey(w.From) + ":" + dateKey(w.To)
	return through(ctx, s, "section_report", key, s.ttl, []string{tags.Section(sectionID), tags.Students, tags.Terms},
		func(ctx context.Context) (domain.SectionReport, error) {
			return s.Store.SectionReport(ctx, sc, sectionID, w)
		})
}

// Overview implements domain.ReportStore through the cache (short TTL).
func (s *Store) Overview(ctx context.Context, sc domain.Scope, q domain.OverviewQuery) (domain.Overview, error) {
	key := "overview:" + scopeKey(sc) + ":" + q.TermID.String() + ":" + strconv.FormatInt(int64(q.Threshold), 10)
	return through(ctx, s, "overview", key, s.shortTTL, []string{tags.Terms, tags.Sections},
		func(ctx context.Context) (domain.Overview, error) { return s.Store.Overview(ctx, sc, q) })
}

// Shortages implements domain.ReportStore through the cache (short TTL).
func (s *Store) Shortages(ctx context.Context, sc domain.Scope, q domain.ShortageQuery) (domain.Page[domain.Shortage], error) {
	key := "shortages:" + scopeKey(sc) + ":" + q.TermID.String() + ":" + q.SectionID.String() + ":" + q.Department + ":" +
		strconv.FormatInt(int64(q.Threshold), 10) + ":" + pageKey(q.Page)
	tagList := []string{tags.Terms, tags.Sections, tags.Students}
	if q.SectionID != uuid.Nil {
		tagList = append(tagList, tags.Section(q.SectionID))
	}
	return through(ctx, s, "shortages", key, s.shortTTL, tagList,
		func(ctx context.Context) (domain.Page[domain.Shortage], error) { return s.Store.Shortages(ctx, sc, q) })
}
