package server

import (
	"errors"
	"fmt"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
