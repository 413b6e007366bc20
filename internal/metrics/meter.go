package metrics

import "time"

// meterWindow is how many samples a Meter keeps: rates are over the last
// meterWindow-1 sampling intervals (seconds, with the heartbeat's clock).
const meterWindow = 6

// Meter turns a cumulative counter into a per-second rate over its last few
// samples. The owner calls Mark on its own clock; it is not safe for
// concurrent use.
type Meter struct {
	at   [meterWindow]time.Time
	v    [meterWindow]float64
	n, i int
}

// Mark records the counter's value v at now.
func (m *Meter) Mark(now time.Time, v float64) {
	m.at[m.i], m.v[m.i] = now, v
	m.i = (m.i + 1) % meterWindow
	m.n = min(m.n+1, meterWindow)
}

// Rate is the counter's change per second between the oldest and newest
// samples, 0 with fewer than two.
func (m *Meter) Rate() float64 {
	if m.n < 2 {
		return 0
	}
	newest := (m.i + meterWindow - 1) % meterWindow
	oldest := (m.i + meterWindow - m.n) % meterWindow
	d := m.at[newest].Sub(m.at[oldest]).Seconds()
	if d <= 0 {
		return 0
	}
	return (m.v[newest] - m.v[oldest]) / d
}
