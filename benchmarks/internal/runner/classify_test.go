package runner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestClassify(t *testing.T) {
	op := func(op string, err error) error { return &net.OpError{Op: op, Net: "tcp", Err: err} }
	cases := []struct {
		err  error
		want ErrorKind
	}{
		{op("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED)), KindConnectRefused},
		{fasthttp.ErrTimeout, KindTimeout},
		{fasthttp.ErrDialTimeout, KindTimeout},
		{fasthttp.ErrTLSHandshakeTimeout, KindTimeout},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), KindTimeout},
		{op("read", os.ErrDeadlineExceeded), KindTimeout},
		{op("read", os.NewSyscallError("read", syscall.ECONNRESET)), KindReset},
		{op("write", os.NewSyscallError("write", syscall.EPIPE)), KindReset},
		{fasthttp.ErrConnectionClosed, KindReset},
		{io.ErrUnexpectedEOF, KindReset},
		{x509.UnknownAuthorityError{}, KindTLS},
		{&tls.CertificateVerificationError{Err: errors.New("x")}, KindTLS},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, KindTLS},
		{op("remote error", errors.New("tls: bad certificate")), KindTLS},
		{errors.New("tls: no application protocol"), KindTLS},
		{errors.New("cannot parse response status line"), KindOther},
		{ErrRemote, KindOther},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	names := map[ErrorKind]string{KindConnectRefused: "connect_refused", KindTimeout: "timeout", KindReset: "reset", KindTLS: "tls", KindOther: "other"}
	for k, want := range names {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
	if Open.String() != "open" || Closed.String() != "closed" || Mode(9).String() != "mode(9)" {
		t.Error("mode names")
	}
}
