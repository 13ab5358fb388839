package pacer

import (
	"errors"
	"math"
	"testing"
	"time"
)

func mustAt(t *testing.T, s *Schedule, i int64) time.Duration {
	t.Helper()
	d, ok := s.At(i)
	if !ok {
		t.Fatalf("At(%d): not in schedule %s", i, s)
	}
	return d
}

func TestConstantIsExact(t *testing.T) {
	s, err := Constant(1000, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 1000; i++ {
		if got, want := mustAt(t, s, i), time.Duration(i)*time.Millisecond; got != want {
			t.Fatalf("At(%d) = %v, want %v", i, got, want)
		}
	}
	if _, ok := s.At(1000); ok {
		t.Fatal("At(1000) is past the end of a 1000 rps x 1s schedule")
	}
	if _, ok := s.At(-1); ok {
		t.Fatal("At(-1) reported true")
	}
	if got := s.Total(); got != 1000 {
		t.Fatalf("Total = %d, want 1000", got)
	}
	if got := s.MeanRate(); got != 1000 {
		t.Fatalf("MeanRate = %v", got)
	}
}

func TestConstantFractionalRate(t *testing.T) {
	s, err := Constant(3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 333333333, 666666667}
	for i, w := range want {
		if got := mustAt(t, s, int64(i)); got != w {
			t.Fatalf("At(%d) = %v, want %v", i, got, w)
		}
	}
	if s.Total() != 3 {
		t.Fatalf("Total = %d, want 3", s.Total())
	}
	// 2.5 rps for 1s intends requests at 0, 0.4s and 0.8s.
	s, err = Constant(2.5, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Total(); got != 3 {
		t.Fatalf("2.5 rps x 1s: Total = %d, want 3", got)
	}
	if got := mustAt(t, s, 2); got != 800*time.Millisecond {
		t.Fatalf("At(2) = %v, want 800ms", got)
	}
}

func TestStepsBoundaries(t *testing.T) {
	s, err := Steps(Step{Rate: 100, Duration: time.Second}, Step{Rate: 0, Duration: 500 * time.Millisecond}, Step{Rate: 200, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		i    int64
		want time.Duration
	}{
		{0, 0},
		{1, 10 * time.Millisecond},
		{99, 990 * time.Millisecond},
		// The pause moves request 100 to the start of the third step.
		{100, 1500 * time.Millisecond},
		{101, 1505 * time.Millisecond},
		{299, 2495 * time.Millisecond},
	}
	for _, c := range cases {
		if got := mustAt(t, s, c.i); got != c.want {
			t.Errorf("At(%d) = %v, want %v", c.i, got, c.want)
		}
	}
	if _, ok := s.At(300); ok {
		t.Error("At(300) is past the end")
	}
	if s.Duration() != 2500*time.Millisecond {
		t.Errorf("Duration = %v", s.Duration())
	}
	rates := map[time.Duration]float64{0: 100, 999 * time.Millisecond: 100, time.Second: 0, 1500 * time.Millisecond: 200, 2500 * time.Millisecond: 0, -time.Nanosecond: 0}
	for at, want := range rates {
		if got := s.Rate(at); got != want {
			t.Errorf("Rate(%v) = %v, want %v", at, got, want)
		}
	}
	if got := s.Count(1200 * time.Millisecond); got != 100 {
		t.Errorf("Count(1.2s) inside the pause = %d, want 100", got)
	}
}

func TestRisingRampMath(t *testing.T) {
	// r(t) = 10t, N(t) = 5t²: request i is due at sqrt(i/5) seconds.
	s, err := Ramp(0, 100, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{0, 5, 20, 45, 80, 125, 180, 245, 320, 405} {
		want := time.Duration(math.Round(math.Sqrt(float64(i)/5) * 1e9))
		if got := mustAt(t, s, i); got != want {
			t.Errorf("At(%d) = %v, want %v", i, got, want)
		}
	}
	if got := mustAt(t, s, 5); got != time.Second {
		t.Errorf("At(5) = %v, want 1s", got)
	}
	if s.Total() != 500 {
		t.Errorf("Total = %d, want 500", s.Total())
	}
	if got := s.Rate(2500 * time.Millisecond); got != 25 {
		t.Errorf("Rate(2.5s) = %v, want 25", got)
	}
}

func TestFallingRampMath(t *testing.T) {
	// r(t) = 100 - 10t, N(t) = 100t - 5t².
	s, err := Ramp(100, 0, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[int64]time.Duration{0: 0, 95: time.Second, 180: 2 * time.Second, 375: 5 * time.Second, 480: 8 * time.Second}
	for i, want := range cases {
		if got := mustAt(t, s, i); got != want {
			t.Errorf("At(%d) = %v, want %v", i, got, want)
		}
	}
	if s.Total() != 500 {
		t.Errorf("Total = %d, want 500", s.Total())
	}
	last := mustAt(t, s, 499)
	if last > 10*time.Second {
		t.Errorf("At(499) = %v is past the end", last)
	}
}

func TestRampThenHold(t *testing.T) {
	s, err := New(Segment{From: 0, To: 100, Duration: 2 * time.Second}, Segment{From: 100, To: 100, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The ramp intends 100 requests; request 100 opens the hold at 2s.
	if got := mustAt(t, s, 100); got != 2*time.Second {
		t.Fatalf("At(100) = %v, want 2s", got)
	}
	if got := mustAt(t, s, 150); got != 2500*time.Millisecond {
		t.Fatalf("At(150) = %v, want 2.5s", got)
	}
	if s.Total() != 200 {
		t.Fatalf("Total = %d, want 200", s.Total())
	}
	if got := s.String(); got != "ramp 0->100 rps over 2s, 100 rps for 1s" {
		t.Fatalf("String = %q", got)
	}
	if got := len(s.Segments()); got != 2 {
		t.Fatalf("Segments: %d", got)
	}
}

// TestCountMatchesAt checks Count against its definition, by brute force.
func TestCountMatchesAt(t *testing.T) {
	schedules := []struct {
		name string
		segs []Segment
	}{
		{"constant", []Segment{{From: 7, To: 7, Duration: 3 * time.Second}}},
		{"ramp-up", []Segment{{From: 1, To: 33, Duration: 2 * time.Second}}},
		{"ramp-down", []Segment{{From: 40, To: 3, Duration: 2 * time.Second}}},
		{"mixed", []Segment{{From: 5, To: 5, Duration: time.Second}, {Duration: time.Second}, {From: 0, To: 20, Duration: time.Second}, {From: 20, To: 1, Duration: 1500 * time.Millisecond}}},
	}
	for _, sc := range schedules {
		t.Run(sc.name, func(t *testing.T) {
			s, err := New(sc.segs...)
			if err != nil {
				t.Fatal(err)
			}
			var times []time.Duration
			prev := time.Duration(-1)
			for i := int64(0); ; i++ {
				at, ok := s.At(i)
				if !ok {
					break
				}
				if at < prev {
					t.Fatalf("At(%d) = %v < At(%d) = %v", i, at, i-1, prev)
				}
				if at > s.Duration() {
					t.Fatalf("At(%d) = %v past the end %v", i, at, s.Duration())
				}
				prev = at
				times = append(times, at)
			}
			if int64(len(times)) != s.Total() {
				t.Fatalf("Total = %d, At valid for %d indices", s.Total(), len(times))
			}
			probe := func(e time.Duration) {
				var want int64
				for _, at := range times {
					if at < e {
						want++
					}
				}
				if got := s.Count(e); got != want {
					t.Fatalf("Count(%v) = %d, want %d", e, got, want)
				}
			}
			for e := -time.Millisecond; e <= s.Duration()+10*time.Millisecond; e += 7 * time.Millisecond {
				probe(e)
			}
			for _, at := range times {
				probe(at)
				probe(at + 1)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	cases := map[string][]Segment{
		"none":          nil,
		"negative rate": {{From: -1, To: 1, Duration: time.Second}},
		"NaN rate":      {{From: math.NaN(), To: 1, Duration: time.Second}},
		"inf rate":      {{From: math.Inf(1), To: 1, Duration: time.Second}},
		"zero duration": {{From: 1, To: 1}},
		"all zero":      {{Duration: time.Second}},
		"overflow":      {{From: 1, To: 1, Duration: math.MaxInt64}, {From: 1, To: 1, Duration: 1}},
	}
	for name, segs := range cases {
		if _, err := New(segs...); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func BenchmarkAt(b *testing.B) {
	s, err := New(Segment{From: 10, To: 1000, Duration: 10 * time.Second}, Segment{From: 1000, To: 1000, Duration: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	total := s.Total()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.At(int64(i) % total)
	}
}
