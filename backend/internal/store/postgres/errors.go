package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/campshub360/edge/backend/internal/domain"
)

// wrapErr prefixes err with op and, when it means the database could not
// answer, also wraps domain.ErrUnavailable; text the database refused
// (unstorableText) also wraps domain.ErrUnstorableText. nil stays nil.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, domain.ErrUnavailable, err)
	}
	if unstorableText(err) {
		return fmt.Errorf("%s: %w: %w", op, domain.ErrUnstorableText, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unstorableText reports PostgreSQL's refusals of a text parameter: NUL
// or an invalid byte sequence (22021 character_not_in_repertoire) and a
// character with no equivalent in the server encoding (22P05
// untranslatable_character), PostgreSQL Appendix A.
func unstorableText(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

// unavailable reports whether err is a failure to get an answer (timeouts,
// cancellation, connection failures, a closed pool, server shutdown or
// overload) rather than an answer that is an error.
func unavailable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, puddle.ErrClosedPool), errors.Is(err, net.ErrClosed):
		return true
	case pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection exception
			return true
		case pgErr.Code == "57014", // query_canceled (statement_timeout)
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03", // cannot_connect_now
			pgErr.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
