package config

import (
	"errors"
	"testing"
	"time"
)

func TestParseDynamic(t *testing.T) {
	c, err := ParseDynamic([]string{"a=1", " b = x=y ", "c="})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String("b", ""); got != "x=y" {
		t.Errorf("b = %q", got)
	}
	if v, ok := c.Lookup("c"); !ok || v != "" {
		t.Errorf("c = %q %v", v, ok)
	}
	for _, bad := range []string{"novalue", "=1", ""} {
		if _, err := ParseDynamic([]string{bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"100", 100 * time.Millisecond, true},
		{"-1", -time.Millisecond, true},
		{"1s", time.Second, true},
		{"2 min", 2 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"soon", 0, false},
	} {
		got, err := New(map[string]string{"k": tc.in}).Duration("k", 0)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
	}
}

func TestIntAndMerge(t *testing.T) {
	c := New(map[string]string{"p": "4"}).Merge(New(map[string]string{"q": "x"}))
	if n, err := c.Int("p", 1); err != nil || n != 4 {
		t.Errorf("p = %d %v", n, err)
	}
	if _, err := c.Int("q", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("q err = %v", err)
	}
	if n, _ := c.Int("missing", 7); n != 7 {
		t.Errorf("default = %d", n)
	}
	var back Config
	b, _ := c.MarshalJSON()
	if err := back.UnmarshalJSON(b); err != nil || back.String("q", "") != "x" {
		t.Errorf("json round trip: %v %v", back, err)
	}
}

func TestUnknownKeys(t *testing.T) {
	c, _ := ParseDynamic([]string{"execution.checkpointing.intervall=1s", "myjob.threshold=3", "parallelism.default=2", "taskmanager.numberOfTaskSlot=2"})
	msgs, err := Unknown(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`unknown configuration key "execution.checkpointing.intervall" (did you mean "execution.checkpointing.interval"?)`,
		`unknown configuration key "taskmanager.numberOfTaskSlot" (did you mean "taskmanager.numberOfTaskSlots"?)`}
	if len(msgs) != 2 || msgs[0] != want[0] || msgs[1] != want[1] {
		t.Fatalf("Unknown = %q, want %q", msgs, want)
	}
	if _, err := Unknown(c.With(Strict, "true")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("strict: %v, want ErrInvalid", err)
	}
	if msgs, err := Unknown(New(map[string]string{"myjob.x": "1", Strict: "true"})); err != nil || len(msgs) != 0 {
		t.Fatalf("a job's own key: %q %v", msgs, err)
	}
	if n := Nearest("zzzz.qqqq"); n != "" {
		t.Errorf("Nearest of nonsense = %q", n)
	}
}

func TestTaskManagerCoresAndGC(t *testing.T) {
	for _, tc := range []struct {
		v    string // "" for unset
		want int
		ok   bool
	}{{"", 3, true}, {"2", 2, true}, {" 4.0 ", 4, true}, {"1.5", 0, false}, {"0", 0, false}, {"-2", 0, false}, {"x", 0, false}} {
		kv := map[string]string{}
		if tc.v != "" {
			kv[TaskManagerCPUCores] = tc.v
		}
		got, err := New(kv).TaskManagerCores(3)
		if (err == nil) != tc.ok || got != tc.want || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("cores %q: %d, %v; want %d, ok=%v", tc.v, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		v    string
		want int
		ok   bool
	}{{"", DefaultTaskManagerGCPercent, true}, {"100", 100, true}, {"off", -1, true}, {"-1", -1, true}, {"0", 0, false}, {"-5", 0, false}, {"much", 0, false}} {
		kv := map[string]string{}
		if tc.v != "" {
			kv[TaskManagerGCPercent] = tc.v
		}
		got, err := New(kv).TaskManagerGC()
		if (err == nil) != tc.ok || got != tc.want || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("gc-percent %q: %d, %v; want %d, ok=%v", tc.v, got, err, tc.want, tc.ok)
		}
	}
}
