package config

import (
	"mime"
	"strings"
)

// Compression configures response compression: responses of compressible
// media types that the upstream sent uncompressed are compressed with the
// best coding the client accepts (zstd, br or gzip; RFC 9110 §8.4.1 and
// §12.5.3), with Vary: Accept-Encoding.
type Compression struct {
	// Enabled turns response compression on.
	Enabled bool `yaml:"enabled"`
	// MinBytes is the smallest body compressed; smaller ones gain little
	// and cost CPU.
	MinBytes int `yaml:"min_bytes"`
	// Types are the compressible media types (no parameters). A trailing
	// "/*" matches a whole top-level type ("text/*"); "+json" and "+xml"
	// structured-syntax suffixes of listed types are matched too.
	Types []string `yaml:"types"`
}

// DefaultCompressibleTypes are compressed when compression.types is empty.
var DefaultCompressibleTypes = []string{
	"text/*", "application/json", "application/problem+json", "application/javascript",
	"application/xml", "application/x-ndjson", "image/svg+xml", "application/csv",
}

func (c *Config) fillCompressionDefaults() {
	z := &c.Compression
	if z.MinBytes == 0 {
		z.MinBytes = 1024
	}
	if len(z.Types) == 0 {
		z.Types = append([]string(nil), DefaultCompressibleTypes...)
	}
}

func (c *Config) validateCompression(ck *checker) {
	z := c.Compression
	if z.MinBytes < 1 {
		ck.add("compression.min_bytes", "must be at least 1")
	}
	for i, t := range z.Types {
		if strings.ContainsRune(t, ';') {
			ck.add(pathf("compression.types[%d]", i), "%q: give the media type without parameters", t)
			continue
		}
		if _, _, err := mime.ParseMediaType(t); err != nil {
			ck.add(pathf("compression.types[%d]", i), "%q is not a media type", t)
		}
	}
}
