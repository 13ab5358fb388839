package seed

import "fmt"

// Preset names a campus size.
type Preset struct {
	// Name is what --preset takes.
	Name string
	// Students, Weeks and SectionSize are the generation options.
	Students, Weeks, SectionSize int
	// Stream says to generate attendance records while loading them.
	Stream bool
	// About describes the result.
	About string
}

// Presets are the named campus sizes:
//
//	demo   2,000 students, 2 weeks: what `make run` loads
//	scale  50,000 students in sections of up to 175 (about 1,500 course
//	       sections), 13 weeks of past attendance (about 10 million
//	       records, a semester's teaching weeks): what the benchmarks use
func Presets() []Preset {
	return []Preset{
		{Name: "demo", Students: DefaultStudents, Weeks: DefaultWeeks, About: "2,000 students, 2 weeks of attendance"},
		{Name: "scale", Students: 50000, Weeks: 13, SectionSize: 175, Stream: true,
			About: "50,000 students, about 1,500 sections, 13 weeks: about 10 million attendance records"},
	}
}

// PresetNamed returns the preset called name.
func PresetNamed(name string) (Preset, error) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("unknown preset %q (want demo or scale)", name)
}
