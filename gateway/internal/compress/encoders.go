package compress

import (
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	brotli "github.com/molecule-man/go-brrr"
)

// Compression levels: moderate settings that cut a JSON API response to a
// fraction at a few tens of microseconds per 2 KB on one core.
const (
	gzipLevel   = 5 // of 1..9
	brotliLevel = 4 // of 0..11
)

// encoders holds reusable encoder state per coding. fasthttp's own
// Append*Bytes helpers allocate their wrappers on each call; reusing the
// encoders here keeps a compressed response allocation-free. Safe for
// concurrent use.
type encoders struct {
	gzip   sync.Pool // *gzipEncoder
	brotli sync.Pool // *brotliEncoder
	zstd   *zstd.Encoder
}

// sliceWriter appends to b; it lives inside a pooled encoder so that
// passing it as an io.Writer does not allocate.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type gzipEncoder struct {
	out sliceWriter
	w   *gzip.Writer
}

type brotliEncoder struct {
	out sliceWriter
	w   *brotli.Writer
}

func newEncoders() *encoders {
	// EncodeAll on one Encoder is safe for concurrent use; it keeps a
	// small pool of block encoders internally.
	z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(2),
		zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true))
	if err != nil {
		// Only invalid options make NewWriter fail; these are constant.
		panic("compress: zstd encoder: " + err.Error())
	}
	return &encoders{zstd: z}
}

// append appends src compressed with c to dst.
func (e *encoders) append(c Coding, dst, src []byte) []byte {
	switch c {
	case Zstd:
		return e.zstd.EncodeAll(src, dst)
	case Brotli:
		be, _ := e.brotli.Get().(*brotliEncoder)
		if be == nil {
			be = &brotliEncoder{}
			w, err := brotli.NewWriter(&be.out, brotliLevel)
			if err != nil {
				panic("compress: brotli writer: " + err.Error())
			}
			be.w = w
		}
		be.out.b = dst
		be.w.ResetWithSizeHint(&be.out, uint(len(src)))
		_, _ = be.w.Write(src) // sliceWriter never fails
		_ = be.w.Close()
		dst, be.out.b = be.out.b, nil
		e.brotli.Put(be)
		return dst
	default:
		ge, _ := e.gzip.Get().(*gzipEncoder)
		if ge == nil {
			ge = &gzipEncoder{}
			w, err := gzip.NewWriterLevel(&ge.out, gzipLevel)
			if err != nil {
				panic("compress: gzip writer: " + err.Error())
			}
			ge.w = w
		}
		ge.out.b = dst
		ge.w.Reset(&ge.out)
		_, _ = ge.w.Write(src)
		_ = ge.w.Close()
		dst, ge.out.b = ge.out.b, nil
		e.gzip.Put(ge)
		return dst
	}
}
