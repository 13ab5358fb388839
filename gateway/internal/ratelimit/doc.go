// Package ratelimit is the gateway's rate limiter: named token-bucket
// policies that routes reference, keyed per client IP (IPv6 per /64), per
// verified user, per API key id, per header value, per submitted login
// username, or a combination, plus in-flight caps per client IP.
//
// Local policies keep golang.org/x/time/rate buckets in a sharded table
// with idle eviction and a hard cap on keys (Buckets). Shared policies
// enforce one budget across every gateway instance with GCRA in Redis, in
// one atomic script on Redis server time, behind a local pre-check and
// with a per-policy fallback when Redis is slow or down (Shared). The
// Engine holds what outlives a configuration reload; a Generation is the
// per-configuration view whose Middleware is the pipeline stage.
//
// Responses of limited routes carry the RateLimit-Policy and RateLimit
// fields of draft-ietf-httpapi-ratelimit-headers-11 (structured-field
// lists of items named by a String, parameters q and w, r and t);
// rejections are 429 problems (RFC 9457) with Retry-After (RFC 9110
// section 10.2.3).
//
// Time is a monotonic Clock, injected; every decision is a pure function
// of the clock reading and the bucket state, which is what the tests
// drive.
package ratelimit
