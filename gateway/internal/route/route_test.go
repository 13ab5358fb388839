package route

import "testing"

func TestMatchLongestPrefixAndHost(t *testing.T) {
	tbl := NewTable([]*Route{
		{Name: "api", Prefix: "/api/"},
		{Name: "students", Prefix: "/api/v1/students"},
		{Name: "admin-host", Host: "admin.example.edu", Prefix: "/api/"},
		{Name: "health", Prefix: "/health/"},
	})
	for _, tc := range []struct{ host, path, want string }{
		{"x.edu", "/api/v1/courses", "api"},
		{"x.edu", "/api/v1/students?limit=5", "students"},
		{"x.edu", "/api/v1/students/1", "students"},
		{"ADMIN.example.edu:8443", "/api/v1/courses", "admin-host"},
		{"admin.example.edu", "/api/v1/students", "students"},
		{"x.edu", "/health/", "health"},
		{"x.edu", "/healthz", ""},
		{"x.edu", "/api", ""},
		{"[::1]:8443", "/api/x", "api"},
	} {
		r := tbl.Match([]byte(tc.host), []byte(tc.path))
		got := ""
		if r != nil {
			got = r.Name
		}
		if got != tc.want {
			t.Errorf("Match(%q, %q) = %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tbl := NewTable([]*Route{{Name: "api", Prefix: "/api/"}, {Name: "h", Host: "a.b", Prefix: "/api/v1/"}})
	host, path := []byte("A.B:443"), []byte("/api/v1/students")
	if n := testing.AllocsPerRun(100, func() { _ = tbl.Match(host, path) }); n != 0 {
		t.Fatalf("Match allocates %.1f times", n)
	}
}
