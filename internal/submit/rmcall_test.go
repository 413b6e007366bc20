package submit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"floe/internal/hadoop/yarn"
)

type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, format, args...)
}

// A ResourceManager that accepts connections and never answers: the call
// ends after the client's RPC timeout with an error that says so, and a
// terminal hears while it waits.
func TestRMThatNeverAnswers(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	defer func() {
		lis.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	rm, err := yarn.NewClientAt([]string{lis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	out := &lines{}
	yc := &yarnClient{rm: rm, out: out, tty: true, rpcTimeout: 1500 * time.Millisecond, progress: 400 * time.Millisecond}
	start := time.Now()
	err = yc.rmCall(context.Background(), "a new application", func(ctx context.Context) error {
		_, _, err := rm.NewApplication(ctx)
		return err
	})
	took := time.Since(start)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), lis.Addr().String()) || !strings.Contains(err.Error(), "yarn.client.rpc-timeout") {
		t.Fatalf("err %v, want ErrNoAnswer naming the address and the key", err)
	}
	if took > 5*time.Second {
		t.Fatalf("the call took %s, want about 1.5 s", took)
	}
	out.mu.Lock()
	said := out.b.String()
	out.mu.Unlock()
	if n := strings.Count(said, "Waiting for the ResourceManager"); n < 2 {
		t.Fatalf("the terminal heard %d progress lines, want at least 2:\n%s", n, said)
	}
}
