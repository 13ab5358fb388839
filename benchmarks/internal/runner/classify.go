package runner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"
)

// ErrorKind sorts transport errors (no HTTP response at all) for reports.
type ErrorKind int

// The transport error kinds, in report order.
const (
	// KindConnectRefused: nothing listens at the target (ECONNREFUSED).
	KindConnectRefused ErrorKind = iota
	// KindTimeout: dial, TLS handshake, write or read exceeded the timeout.
	KindTimeout
	// KindReset: the connection was reset or closed before a full response
	// (ECONNRESET, EPIPE, EOF mid-response).
	KindReset
	// KindTLS: the TLS handshake failed (certificate, alert, not TLS).
	KindTLS
	// KindOther: anything else (malformed response, resolver failure, ...).
	KindOther

	numKinds = iota
)

// String returns the kind's report name: connect_refused, timeout, reset,
// tls or other.
func (k ErrorKind) String() string {
	switch k {
	case KindConnectRefused:
		return "connect_refused"
	case KindTimeout:
		return "timeout"
	case KindReset:
		return "reset"
	case KindTLS:
		return "tls"
	default:
		return "other"
	}
}

// Classify returns the kind of a transport error returned by Client.Do.
// Checks run from the most to the least specific: refused, timeout, TLS,
// reset, other. A nil error is KindOther.
func Classify(err error) ErrorKind {
	if err == nil {
		return KindOther
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return KindConnectRefused
	}
	if isTimeout(err) {
		return KindTimeout
	}
	if isTLS(err) {
		return KindTLS
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return KindReset
	}
	return KindOther
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTLS(err error) bool {
	var (
		rec    tls.RecordHeaderError
		alert  tls.AlertError
		verify *tls.CertificateVerificationError
		auth   x509.UnknownAuthorityError
		host   x509.HostnameError
		inval  x509.CertificateInvalidError
		ech    *tls.ECHRejectionError
	)
	if errors.As(err, &rec) || errors.As(err, &alert) || errors.As(err, &verify) ||
		errors.As(err, &auth) || errors.As(err, &host) || errors.As(err, &inval) || errors.As(err, &ech) {
		return true
	}
	// Over TCP, crypto/tls reports alerts as *net.OpError with Op "remote
	// error" or "local error" around an unexported type, and most protocol
	// failures as plain errors prefixed "tls: ".
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error") {
		return true
	}
	return strings.Contains(err.Error(), "tls: ")
}
