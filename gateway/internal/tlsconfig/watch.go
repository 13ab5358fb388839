package tlsconfig

import (
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reloads a Store's certificates when their files change: it
// watches the directories holding them (so atomic renames, symlink swaps
// of Kubernetes secret volumes and ACME clients' replacements are all
// seen), waits for the changes to settle, then calls Store.Refresh. After
// a Store.Load with a new source it watches the new directories. Create
// with Watch; Close stops it.
type Watcher struct {
	s        *Store
	fw       *fsnotify.Watcher
	debounce time.Duration
	onResult func(error)
	done     chan struct{}
	wg       sync.WaitGroup
	watched  map[string]bool
}

// Watch starts watching s's files. Changes are applied debounce after the
// last file event (a pair is usually written as two files); onResult
// receives each Refresh result (nil: success) and may be nil.
func (s *Store) Watch(debounce time.Duration, onResult func(error)) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{s: s, fw: fw, debounce: debounce, onResult: onResult, done: make(chan struct{}), watched: map[string]bool{}}
	w.sync()
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// sync makes the watched set the store's current directories.
func (w *Watcher) sync() {
	want := map[string]bool{}
	for _, d := range w.s.WatchedDirs() {
		want[d] = true
		if !w.watched[d] {
			if err := w.fw.Add(d); err != nil {
				w.s.log.Warn("cannot watch certificate directory; changes there need a reload", "dir", d, "error", err.Error())
				continue
			}
			w.watched[d] = true
		}
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.fw.Remove(d)
			delete(w.watched, d)
		}
	}
}

func (w *Watcher) run() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.done:
			timer.Stop()
			return
		case <-w.s.changed:
			w.sync()
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(w.debounce)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.s.log.Warn("certificate watcher error", "error", err.Error())
		case <-timer.C:
			err := w.s.Refresh()
			if err != nil {
				w.s.log.Error("certificate reload failed", "error", err.Error())
			}
			if w.onResult != nil {
				w.onResult(err)
			}
			// A new subdirectory in certificates_dir needs watching too.
			w.sync()
		}
	}
}

// Close stops watching and waits for the watcher goroutine to end.
func (w *Watcher) Close() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	close(w.done)
	err := w.fw.Close()
	w.wg.Wait()
	return err
}
