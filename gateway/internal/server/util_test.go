package server

import (
	"errors"
	"fmt"
	"os"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func readFile(t interface{ Fatal(...any) }, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t interface{ Fatal(...any) }, path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
