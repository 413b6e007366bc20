package metrics

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	var m Meter
	t0 := time.Unix(100, 0)
	if r := m.Rate(); r != 0 {
		t.Fatalf("rate with no sample: %v", r)
	}
	m.Mark(t0, 0)
	if r := m.Rate(); r != 0 {
		t.Fatalf("rate with one sample: %v", r)
	}
	for i := 1; i <= 10; i++ { // 100 per second, then the window slides
		m.Mark(t0.Add(time.Duration(i)*time.Second), float64(100*i))
	}
	if r := m.Rate(); r != 100 {
		t.Errorf("rate %v, want 100", r)
	}
	m.Mark(t0.Add(11*time.Second), 1000) // no change in the last second
	if r := m.Rate(); r != 80 {          // (1000-600)/5 s over the last five intervals
		t.Errorf("rate %v, want 80", r)
	}
}
