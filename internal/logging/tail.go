package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// defaultLogTail is how much of a log Tail returns by default.
const defaultLogTail = 64 << 10

// Tail returns the last max bytes of the file at path (defaultLogTail
// when max <= 0) and the file's size.
func Tail(path string, max int64) ([]byte, int64, error) {
	if max <= 0 {
		max = defaultLogTail
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("tail %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("tail %s: %w", path, err)
	}
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("tail %s: %w", path, err)
	}
	return buf[:n], st.Size(), nil
}
