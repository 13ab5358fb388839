package tlsconfig

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// resolve lists src's pairs: the listed ones first, then the directory's.
func resolve(src Source) ([]Pair, error) {
	pairs := append([]Pair(nil), src.Pairs...)
	if src.Dir != "" {
		found, err := ScanDir(src.Dir)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, found...)
	}
	if len(pairs) == 0 {
		return nil, fmt.Errorf("no certificates: none listed and none found in %q", src.Dir)
	}
	return pairs, nil
}

// ScanDir finds certificate pairs in dir, in name order:
//
//	NAME.crt or NAME.pem with NAME.key        -> pair NAME
//	NAME/tls.crt with NAME/tls.key            -> pair NAME (Kubernetes TLS secret)
//	NAME/fullchain.pem with NAME/privkey.pem  -> pair NAME (ACME client layout)
//
// Other files are ignored; a certificate file without its key is too (a
// key may be written after its certificate). Hidden entries (".x") are
// skipped, except that symbolic links are followed, as Kubernetes secret
// volumes need.
func ScanDir(dir string) ([]Pair, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("certificates_dir: %w", err)
	}
	var pairs []Pair
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if isDir(dir, e) {
			sub := filepath.Join(dir, name)
			for _, l := range [][2]string{{"tls.crt", "tls.key"}, {"fullchain.pem", "privkey.pem"}} {
				c, k := filepath.Join(sub, l[0]), filepath.Join(sub, l[1])
				if isFile(c) && isFile(k) {
					pairs = append(pairs, Pair{Name: name, CertFile: c, KeyFile: k})
					break
				}
			}
			continue
		}
		ext := filepath.Ext(name)
		if ext != ".crt" && ext != ".pem" {
			continue
		}
		base := strings.TrimSuffix(name, ext)
		k := filepath.Join(dir, base+".key")
		if isFile(k) {
			pairs = append(pairs, Pair{Name: base, CertFile: filepath.Join(dir, name), KeyFile: k})
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].Name < pairs[j].Name })
	return pairs, nil
}

func isDir(dir string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink != 0 {
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		return err == nil && st.IsDir()
	}
	return false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
