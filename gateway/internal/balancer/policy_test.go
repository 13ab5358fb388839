package balancer

import "testing"

func testPool(n int) []*Upstream {
	us := make([]*Upstream, n)
	for i := range us {
		us[i] = &Upstream{Addr: string(rune('a' + i)), Index: i, Weight: 1}
	}
	return us
}

func TestRoundRobinCyclesAndSkips(t *testing.T) {
	us := testPool(3)
	var rr RoundRobin
	var got []string
	for i := 0; i < 6; i++ {
		got = append(got, rr.Pick(us, 0).Addr)
	}
	if want := "abcabc"; join(got) != want {
		t.Fatalf("order %q, want %q", join(got), want)
	}
	us[1].SetDown(true)
	got = got[:0]
	for i := 0; i < 4; i++ {
		got = append(got, rr.Pick(us, 0).Addr)
	}
	for _, a := range got {
		if a == "b" {
			t.Fatalf("picked a down instance: %q", join(got))
		}
	}
	if u := rr.Pick(us, Tried(0).Add(0).Add(2)); u != nil {
		t.Fatalf("picked %q although the others are tried and b is down", u.Addr)
	}
}

func TestRoundRobinPickDoesNotAllocate(t *testing.T) {
	us := testPool(3)
	var rr RoundRobin
	if n := testing.AllocsPerRun(100, func() { _ = rr.Pick(us, 0) }); n != 0 {
		t.Fatalf("Pick allocates %.1f", n)
	}
}

func join(s []string) string {
	out := ""
	for _, x := range s {
		out += x
	}
	return out
}
