package proxy

import (
	"errors"
	"io"
	"net"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/campshub360/edge/gateway/internal/exchange"
	"github.com/campshub360/edge/shared/problem"
)

// The client-side body failures Prepare and a streamed body report.
var (
	// ErrBodyTooLarge: the body exceeds the route's limit (413).
	ErrBodyTooLarge = errors.New("request body exceeds the route limit")
	// ErrBodyMalformed: the chunked framing of the body is invalid (400).
	ErrBodyMalformed = errors.New("request body framing is malformed")
	// ErrBodyTimeout: the body did not arrive within the body timeout (408).
	ErrBodyTimeout = errors.New("request body not received in time")
	// ErrClientGone: the client closed or reset the connection mid-body
	// (logged as 499).
	ErrClientGone = errors.New("client went away during the request body")
)

// Bodies brings request bodies under their route's policy. The server
// reads request bodies lazily (fasthttp StreamRequestBody); Prepare either
// buffers a body whole, within the limit, so that it can be replayed, or
// lets it stream to the upstream through a limiting reader. Safe for
// concurrent use.
type Bodies struct {
	bufs sync.Pool
}

// Prepare applies limit (bytes) to ctx's request body. With stream false
// the body is read whole into the request (a chunked body is de-chunked
// and sent upstream with a Content-Length); with stream true it is left to
// flow to the upstream as it arrives. ex.BytesIn counts the bytes read.
// The error is one of ErrBodyTooLarge (also when a declared
// Content-Length is over the limit, before any of the body is read),
// ErrBodyMalformed, ErrBodyTimeout or ErrClientGone (which also sets
// ex.ClientGone); WriteBodyError answers it.
func (b *Bodies) Prepare(ctx *fasthttp.RequestCtx, ex *exchange.Exchange, limit int, stream bool) error {
	req := &ctx.Request
	if !req.IsBodyStream() {
		n := len(req.Body())
		ex.BytesIn = int64(n)
		if n > limit {
			return ErrBodyTooLarge
		}
		return nil
	}
	cl := req.Header.ContentLength()
	if cl > limit {
		return ErrBodyTooLarge
	}
	if cl == 0 {
		req.ResetBody()
		return nil
	}
	if stream {
		size := cl
		if size < 0 {
			size = -1 // chunked: re-chunked upstream
		}
		req.SetBodyStream(&limitedBody{r: req.BodyStream(), left: int64(limit), ex: ex}, size)
		return nil
	}
	bp, _ := b.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
		*bp = make([]byte, 0, 4096)
	}
	buf, err := readLimited((*bp)[:0], req.BodyStream(), limit)
	ex.BytesIn = int64(len(buf))
	if err == nil {
		req.SetBody(buf)
	}
	if cap(buf) <= 1<<20 {
		*bp = buf
		b.bufs.Put(bp)
	}
	if err != nil {
		err = classify(err)
		if err == ErrClientGone {
			ex.ClientGone = true
		}
	}
	return err
}

// readLimited appends r's bytes to dst, failing with ErrBodyTooLarge once
// more than limit bytes arrived.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := cap(dst) - len(dst)
		if over := limit + 1 - len(dst); room > over {
			room = over
		}
		n, err := r.Read(dst[len(dst) : len(dst)+room])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, ErrBodyTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// classify maps a body read error to one of the body sentinels.
func classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, ErrBodyTooLarge), errors.Is(err, ErrBodyMalformed),
		errors.Is(err, ErrBodyTimeout), errors.Is(err, ErrClientGone):
		return err
	case errors.As(err, &ne) && ne.Timeout():
		return ErrBodyTimeout
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return ErrClientGone
	case errors.As(err, new(*net.OpError)):
		return ErrClientGone // reset by peer
	}
	return ErrBodyMalformed
}

// limitedBody streams a request body to the upstream, counting bytes and
// failing once the limit is passed. Its first error is kept so the proxy
// can tell a client-side failure from an upstream one.
type limitedBody struct {
	r    io.Reader
	left int64
	ex   *exchange.Exchange
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	b.ex.BytesIn += int64(n)
	b.left -= int64(n)
	if b.left < 0 {
		err = ErrBodyTooLarge
	}
	if err != nil && err != io.EOF {
		b.err = classify(err)
		b.ex.BodyError = b.err
		if b.err == ErrClientGone {
			b.ex.ClientGone = true
		}
		return n, b.err
	}
	return n, err
}

// bodyProblem returns the problem answering a client-side body failure.
func bodyProblem(err error) problem.Problem {
	switch err {
	case ErrBodyTooLarge:
		return problem.New(fasthttp.StatusRequestEntityTooLarge, "body-too-large",
			"Content Too Large", "The request body exceeds this route's limit.")
	case ErrBodyTimeout:
		return problem.New(fasthttp.StatusRequestTimeout, "request-timeout",
			"Request Timeout", "The request body was not received in time.")
	case ErrBodyMalformed:
		return problem.New(fasthttp.StatusBadRequest, "bad-framing",
			"Bad Request", "The request body's chunked framing is malformed.")
	}
	return problem.New(fasthttp.StatusBadRequest, "client-closed",
		"Bad Request", "The client closed the connection before the request was complete.")
}

// WriteBodyError answers a Prepare error: its problem response, with the
// connection closed (the rest of the body is not read).
func WriteBodyError(ctx *fasthttp.RequestCtx, err error) {
	ctx.SetConnectionClose()
	problem.Write(ctx, bodyProblem(err))
}
