package hist

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func within(got, want time.Duration) bool {
	// 3 significant digits: within 0.1% (plus the 1 µs unit).
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/1000+time.Microsecond
}

func TestPercentilesOfUniform(t *testing.T) {
	h := New()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	cases := map[float64]time.Duration{
		50:   5000 * time.Microsecond,
		90:   9000 * time.Microsecond,
		99:   9900 * time.Microsecond,
		99.9: 9990 * time.Microsecond,
		100:  10000 * time.Microsecond,
	}
	for p, want := range cases {
		if got := h.Percentile(p); !within(got, want) {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if h.Min() != time.Microsecond || h.Max() != 10*time.Millisecond {
		t.Errorf("min %v max %v", h.Min(), h.Max())
	}
	if got := h.Mean(); !within(got, 5000500*time.Nanosecond) {
		t.Errorf("mean %v", got)
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := New()
	parts := []*Histogram{New(), New(), New(), New()}
	for i := 0; i < 20000; i++ {
		d := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
		all.Record(d)
		parts[i%len(parts)].Record(d)
	}
	merged := New()
	for _, p := range parts {
		merged.Merge(p)
	}
	if merged.Count() != all.Count() {
		t.Fatalf("count %d, want %d", merged.Count(), all.Count())
	}
	if merged.Summarize() != all.Summarize() {
		t.Fatalf("merged %+v\nwant   %+v", merged.Summarize(), all.Summarize())
	}
	// The sources are unchanged.
	var sum int64
	for _, p := range parts {
		sum += p.Count()
	}
	if sum != all.Count() {
		t.Fatalf("parts changed: %d", sum)
	}
}

func TestMergeKeepsExtremesAndEmpties(t *testing.T) {
	a, b, empty := New(), New(), New()
	a.Record(5 * time.Millisecond)
	b.Record(700 * time.Microsecond)
	b.Record(2 * time.Second)
	a.Merge(empty)
	if a.Min() != 5*time.Millisecond || a.Count() != 1 {
		t.Fatalf("merging an empty histogram changed a: %v %d", a.Min(), a.Count())
	}
	a.Merge(b)
	if a.Min() != 700*time.Microsecond || a.Max() != 2*time.Second || a.Count() != 3 {
		t.Fatalf("after merge: min %v max %v count %d", a.Min(), a.Max(), a.Count())
	}
	empty.Merge(a)
	if empty.Summarize() != a.Summarize() {
		t.Fatalf("merge into empty: %+v vs %+v", empty.Summarize(), a.Summarize())
	}
	a.Reset()
	if a.Count() != 0 || a.Min() != 0 || a.Max() != 0 || a.Percentile(99) != 0 {
		t.Fatalf("reset: %+v", a.Summarize())
	}
}

func TestPercentileNeverAboveMax(t *testing.T) {
	h := New()
	h.Record(1234567 * time.Microsecond)
	if got := h.Percentile(99.9); got != 1234567*time.Microsecond {
		t.Fatalf("p99.9 of one value = %v", got)
	}
}

func TestSaturatedAndNegative(t *testing.T) {
	h := New()
	h.Record(-time.Second)
	h.Record(2 * time.Minute)
	if h.Saturated() != 1 || h.Max() != Highest || h.Min() != 0 {
		t.Fatalf("saturated %d max %v min %v", h.Saturated(), h.Max(), h.Min())
	}
	o := New()
	o.Merge(h)
	if o.Summarize().Saturated != 1 {
		t.Fatal("merge lost the saturated count")
	}
}

func TestEncodeDecode(t *testing.T) {
	h := New()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i*i) * time.Microsecond)
	}
	s, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != h.Count() || d.Percentile(99) != h.Percentile(99) {
		t.Fatalf("decoded %+v\noriginal %+v", d.Summarize(), h.Summarize())
	}
	if !within(d.Max(), h.Max()) {
		t.Fatalf("decoded max %v, want ~%v", d.Max(), h.Max())
	}
	for _, bad := range []string{"!!", "AAAA"} {
		if _, err := Decode(bad); !errors.Is(err, ErrDecode) {
			t.Errorf("Decode(%q) = %v", bad, err)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	h := New()
	h.Record(1500 * time.Microsecond)
	b, err := json.Marshal(h.Summarize())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":1,"min_us":1500,"mean_us":1500,"p50_us":1500,"p90_us":1500,"p99_us":1500,"p999_us":1500,"max_us":1500}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != h.Summarize() {
		t.Fatalf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"p50_us":"x"}`), &back); err == nil {
		t.Fatal("string microseconds accepted")
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := New()
	if n := testing.AllocsPerRun(1000, func() { h.Record(3 * time.Millisecond) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}
