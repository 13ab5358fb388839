package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/campshub360/edge/backend/internal/auth"
	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/keyring"
	"github.com/campshub360/edge/backend/internal/pii"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// keysCmd runs the key maintenance commands:
//
//	backend keys generate [--id ID]        print a new keyring entry (kid:base64key)
//	backend keys rotate-pii [--batch N]    re-seal personal data under the primary ENCRYPTION_KEYS key
//	backend keys rotate-signing [--now]    make a new token signing key (published first, then signing)
//
// rotate-* read the keyrings like serve (--dev --runtime-dir DIR for the
// generated development keyrings).
func keysCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &flagError{err: errors.New("keys needs an action: generate, rotate-pii or rotate-signing")}
	}
	action, rest := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+action, flag.ContinueOnError)
	dev := fs.Bool("dev", false, "use the development keyrings under --runtime-dir (generated when missing)")
	runtimeDir := fs.String("runtime-dir", "", "runtime directory of the development keyrings")
	switch action {
	case "generate":
		id := fs.String("id", time.Now().UTC().Format("2006-01"), "key id (1-32 of A-Z a-z 0-9 _ -)")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		_, spec, err := keyring.Generate(*id, rand.Reader)
		if err != nil {
			return &flagError{err: err}
		}
		fmt.Fprintln(stdout, spec)
		return nil
	case "rotate-pii":
		batch := fs.Int("batch", 500, "rows per batch (1..10000)")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if *batch < 1 || *batch > 10000 {
			return &flagError{err: errors.New("--batch must be 1..10000")}
		}
		return rotatePII(ctx, getenv, *dev, *runtimeDir, *batch, stdout, stderr)
	case "rotate-signing":
		now := fs.Bool("now", false, "sign with the new key at once (verifiers that cached the old JWK Set reject its tokens until they refresh)")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		return rotateSigning(ctx, getenv, *dev, *runtimeDir, *now, stdout, stderr)
	case "-h", "-help", "--help":
		return flag.ErrHelp
	}
	return &flagError{err: fmt.Errorf("unknown keys action %q (want generate, rotate-pii or rotate-signing)", action)}
}

func rotatePII(ctx context.Context, getenv func(string) string, dev bool, runtimeDir string, batch int, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	data, _, err := rings(getenv, dev, runtimeDir, log)
	if err != nil {
		return err
	}
	db, err := config.LoadDatabase(getenv)
	if err != nil {
		return err
	}
	pool, err := openMigrated(ctx, db, "campshub360-keys")
	if err != nil {
		return err
	}
	defer pool.Close()
	vault := pii.New(data, postgres.NewPIIStore(pool, time.Minute))
	start := time.Now()
	res, err := vault.Rotate(ctx, batch, nil)
	fmt.Fprintf(stdout, "rotate-pii: %d rows scanned, %d re-sealed under key %q, %d unreadable, in %s\n",
		res.Scanned, res.Resealed, data.Primary(), res.Failed, time.Since(start).Round(time.Millisecond))
	if errors.Is(err, pii.ErrUnopenable) {
		return errors.New("some values are sealed under keys missing from ENCRYPTION_KEYS; add the old key back (after the primary) and run again")
	}
	return err
}

func rotateSigning(ctx context.Context, getenv func(string) string, dev bool, runtimeDir string, now bool, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	_, seal, err := rings(getenv, dev, runtimeDir, log)
	if err != nil {
		return err
	}
	cfg, err := config.LoadServe(devFlag(dev), getenv)
	if err != nil {
		return err
	}
	pool, err := openMigrated(ctx, cfg.Database, "campshub360-keys")
	if err != nil {
		return err
	}
	defer pool.Close()
	a := cfg.Auth
	keys, err := auth.NewKeys(ctx, auth.KeysOptions{Store: postgres.NewAuthStore(pool, time.Minute), Seal: seal,
		TokenTTL: a.AccessTTL, Leeway: leeway, Rotation: 0, PublishDelay: a.KeyPublishDelay, RefreshInterval: a.KeyRefresh, Log: log})
	if err != nil {
		return err
	}
	delay := a.KeyPublishDelay
	if now {
		delay = 0
	}
	kid, err := keys.Rotate(ctx, delay)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotate-signing: key %s published; it signs from %s\n", kid, time.Now().Add(delay).UTC().Format(time.RFC3339))
	return nil
}

func devFlag(dev bool) []string {
	if dev {
		return []string{"--dev"}
	}
	return nil
}
