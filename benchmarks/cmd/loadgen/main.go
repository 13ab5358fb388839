// Command loadgen is the load generator of CampsHub360 Edge: open-loop
// (fixed schedule, coordinated-omission-free latency) and closed-loop (peak
// throughput) HTTP/1.1 load over plain and TLS keep-alive connections, from
// YAML scenarios or an ad-hoc URL, with HDR latency histograms, a live
// progress line, JSON and Markdown reports, and A/B comparisons of several
// targets. Run "loadgen help" for usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // {today} in any zone, also where the system has no tz database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second Ctrl-C
	// kills at once instead of waiting for requests in flight.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// A bare errUsage was already explained by the flag package.
		if err != errUsage { //nolint:errorlint // identity check on purpose
			fmt.Fprintln(os.Stderr, "loadgen:", err)
		}
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
