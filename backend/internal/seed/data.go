package seed

import "github.com/campshub360/edge/backend/internal/domain"

// The fixed content of the demo campus. Functions return fresh values, so
// there is no package-level mutable state.

// departmentSpec is a department of the demo campus.
type departmentSpec struct {
	code, name string
}

func departmentSpecs() []departmentSpec {
	return []departmentSpec{
		{"CSE", "Computer Science and Engineering"},
		{"ECE", "Electronics and Communication Engineering"},
		{"EEE", "Electrical and Electronics Engineering"},
		{"ME", "Mechanical Engineering"},
		{"CE", "Civil Engineering"},
		{"MATH", "Mathematics"},
		{"PHY", "Physics"},
		{"CHEM", "Chemistry"},
	}
}

// programSpec is a program of study with its share of the students (weight,
// out of the sum of all weights), the prefix of its roll numbers and its
// curriculum: five course titles per year, with credits creditsPerYear.
type programSpec struct {
	code, name, dept string
	level            domain.ProgramLevel
	years            int
	weight           int
	rollPrefix       string
	// coursePrefix + level digit + "0" + index makes a course code; UG
	// levels are 1..4, PG levels 5..6.
	coursePrefix string
	firstLevel   int
	titles       [][5]string
}

// courseCredits are the credits of the five courses of a year, in order;
// weekly contact hours equal the credits.
func courseCredits() [5]float64 { return [5]float64{4, 4, 3, 3, 2} }

func programSpecs() []programSpec {
	return []programSpec{
		{code: "BTECH-CSE", name: "B.Tech. Computer Science and Engineering", dept: "CSE", level: domain.LevelUG, years: 4, weight: 26,
			rollPrefix: "CSE", coursePrefix: "CSE", firstLevel: 1, titles: [][5]string{
				{"Programming in C", "Engineering Mathematics I", "Engineering Physics", "Digital Logic Design", "Communication Skills"},
				{"Data Structures", "Discrete Mathematics", "Computer Organization", "Object-Oriented Programming", "Environmental Science"},
				{"Design and Analysis of Algorithms", "Operating Systems", "Database Management Systems", "Theory of Computation", "Software Engineering"},
				{"Compiler Design", "Computer Networks", "Machine Learning", "Distributed Systems", "Professional Ethics"},
			}},
		{code: "BTECH-ECE", name: "B.Tech. Electronics and Communication Engineering", dept: "ECE", level: domain.LevelUG, years: 4, weight: 16,
			rollPrefix: "ECE", coursePrefix: "ECE", firstLevel: 1, titles: [][5]string{
				{"Basic Electronics", "Engineering Mathematics I", "Engineering Chemistry", "Programming Fundamentals", "Engineering Graphics"},
				{"Network Analysis", "Signals and Systems", "Electronic Devices", "Engineering Mathematics III", "Environmental Science"},
				{"Analog Circuits", "Digital Signal Processing", "Microprocessors and Microcontrollers", "Electromagnetic Fields", "Control Systems"},
				{"VLSI Design", "Wireless Communication", "Embedded Systems", "Optical Communication", "Professional Ethics"},
			}},
		{code: "BTECH-EEE", name: "B.Tech. Electrical and Electronics Engineering", dept: "EEE", level: domain.LevelUG, years: 4, weight: 10,
			rollPrefix: "EEE", coursePrefix: "EEE", firstLevel: 1, titles: [][5]string{
				{"Basic Electrical Engineering", "Engineering Mathematics I", "Engineering Physics", "Programming Fundamentals", "Workshop Practice"},
				{"Electrical Circuit Theory", "Electrical Machines I", "Electromagnetic Theory", "Analog Electronics", "Environmental Science"},
				{"Power Systems I", "Electrical Machines II", "Power Electronics", "Control Systems", "Measurements and Instrumentation"},
				{"Power System Protection", "High Voltage Engineering", "Renewable Energy Systems", "Electric Drives", "Professional Ethics"},
			}},
		{code: "BTECH-ME", name: "B.Tech. Mechanical Engineering", dept: "ME", level: domain.LevelUG, years: 4, weight: 12,
			rollPrefix: "ME", coursePrefix: "ME", firstLevel: 1, titles: [][5]string{
				{"Engineering Mechanics", "Engineering Mathematics I", "Engineering Chemistry", "Engineering Graphics", "Workshop Practice"},
				{"Thermodynamics", "Strength of Materials", "Manufacturing Processes", "Fluid Mechanics", "Environmental Science"},
				{"Heat and Mass Transfer", "Theory of Machines", "Design of Machine Elements", "Metrology", "Industrial Engineering"},
				{"Refrigeration and Air Conditioning", "Finite Element Analysis", "Automobile Engineering", "CAD and CAM", "Professional Ethics"},
			}},
		{code: "BTECH-CE", name: "B.Tech. Civil Engineering", dept: "CE", level: domain.LevelUG, years: 4, weight: 10,
			rollPrefix: "CE", coursePrefix: "CE", firstLevel: 1, titles: [][5]string{
				{"Engineering Mechanics", "Engineering Mathematics I", "Engineering Physics", "Building Materials", "Engineering Graphics"},
				{"Surveying", "Mechanics of Solids", "Fluid Mechanics", "Engineering Geology", "Environmental Science"},
				{"Structural Analysis", "Geotechnical Engineering", "Design of Concrete Structures", "Transportation Engineering", "Hydrology"},
				{"Design of Steel Structures", "Environmental Engineering", "Construction Management", "Estimation and Costing", "Professional Ethics"},
			}},
		{code: "MTECH-CSE", name: "M.Tech. Computer Science and Engineering", dept: "CSE", level: domain.LevelPG, years: 2, weight: 6,
			rollPrefix: "MCS", coursePrefix: "CSE", firstLevel: 5, titles: [][5]string{
				{"Advanced Algorithms", "Advanced Computer Architecture", "Advanced Database Systems", "Research Methodology", "Deep Learning"},
				{"Cloud Computing", "Information Security", "Natural Language Processing", "Big Data Analytics", "Technical Writing"},
			}},
		{code: "MTECH-VLSI", name: "M.Tech. VLSI Design", dept: "ECE", level: domain.LevelPG, years: 2, weight: 4,
			rollPrefix: "MVL", coursePrefix: "ECE", firstLevel: 5, titles: [][5]string{
				{"Digital IC Design", "Analog IC Design", "Device Modelling", "Research Methodology", "Hardware Description Languages"},
				{"Low Power VLSI", "VLSI Testing and Verification", "Physical Design Automation", "System on Chip Design", "Technical Writing"},
			}},
		{code: "MSC-MATH", name: "M.Sc. Mathematics", dept: "MATH", level: domain.LevelPG, years: 2, weight: 6,
			rollPrefix: "MMA", coursePrefix: "MATH", firstLevel: 5, titles: [][5]string{
				{"Real Analysis", "Abstract Algebra", "Ordinary Differential Equations", "Linear Algebra", "Numerical Methods"},
				{"Functional Analysis", "Topology", "Partial Differential Equations", "Complex Analysis", "Graph Theory"},
			}},
		{code: "MSC-PHY", name: "M.Sc. Physics", dept: "PHY", level: domain.LevelPG, years: 2, weight: 5,
			rollPrefix: "MPH", coursePrefix: "PHY", firstLevel: 5, titles: [][5]string{
				{"Classical Mechanics", "Mathematical Physics", "Quantum Mechanics I", "Electronics", "Electrodynamics"},
				{"Statistical Mechanics", "Quantum Mechanics II", "Condensed Matter Physics", "Nuclear and Particle Physics", "Atomic and Molecular Physics"},
			}},
		{code: "MSC-CHEM", name: "M.Sc. Chemistry", dept: "CHEM", level: domain.LevelPG, years: 2, weight: 5,
			rollPrefix: "MCH", coursePrefix: "CHEM", firstLevel: 5, titles: [][5]string{
				{"Inorganic Chemistry I", "Organic Chemistry I", "Physical Chemistry I", "Analytical Chemistry", "Group Theory and Spectroscopy"},
				{"Inorganic Chemistry II", "Organic Chemistry II", "Physical Chemistry II", "Polymer Chemistry", "Green Chemistry"},
			}},
	}
}

// period is a teaching period: start and end as minutes after midnight.
type period struct{ start, end int }

// periods are the teaching periods of a weekday (Monday..Friday); Saturday
// has the first saturdayPeriods of them. Lunch is 13:00-14:00.
func periods() []period {
	return []period{
		{9 * 60, 9*60 + 50},
		{10 * 60, 10*60 + 50},
		{11 * 60, 11*60 + 50},
		{12 * 60, 12*60 + 50},
		{14 * 60, 14*60 + 50},
		{15 * 60, 15*60 + 50},
	}
}

const saturdayPeriods = 4

// fixedHoliday is a holiday on the same date every year.
type fixedHoliday struct {
	month, day int
	name       string
}

func fixedHolidays() []fixedHoliday {
	return []fixedHoliday{
		{1, 1, "New Year's Day"},
		{1, 14, "Makar Sankranti / Pongal"},
		{1, 26, "Republic Day"},
		{4, 14, "Ambedkar Jayanti"},
		{5, 1, "May Day"},
		{8, 15, "Independence Day"},
		{10, 2, "Gandhi Jayanti"},
		{11, 1, "State Formation Day"},
		{12, 25, "Christmas"},
	}
}

func femaleNames() []string {
	return []string{
		"Aadhya", "Aanya", "Aaradhya", "Ananya", "Anika", "Anjali", "Anushka", "Aditi", "Bhavana", "Chitra",
		"Deepika", "Divya", "Diya", "Gayathri", "Harini", "Ishita", "Isha", "Janani", "Kavya", "Keerthana",
		"Lakshmi", "Madhuri", "Meera", "Meenakshi", "Nandini", "Neha", "Nisha", "Pallavi", "Pooja", "Priya",
		"Priyanka", "Radhika", "Rashmi", "Riya", "Sahana", "Sanjana", "Saranya", "Shreya", "Shruti", "Sneha",
		"Swathi", "Tanvi", "Trisha", "Vaishnavi", "Varsha", "Vidya", "Yamini", "Zoya", "Fatima", "Simran",
	}
}

func maleNames() []string {
	return []string{
		"Aarav", "Abhinav", "Aditya", "Akash", "Amit", "Anand", "Arjun", "Arun", "Ayaan", "Bharath",
		"Dhruv", "Gautam", "Harish", "Ishaan", "Karthik", "Kiran", "Krishna", "Manoj", "Mohit", "Naveen",
		"Nikhil", "Pranav", "Rahul", "Rajesh", "Rakesh", "Rohan", "Sai", "Sandeep", "Sanjay", "Siddharth",
		"Srinivas", "Sunil", "Suresh", "Tarun", "Varun", "Vignesh", "Vijay", "Vikram", "Vinay", "Vishal",
		"Yash", "Yuvraj", "Imran", "Farhan", "Gurpreet", "Harpreet", "Joseph", "Thomas", "Sameer", "Kunal",
	}
}

func lastNames() []string {
	return []string{
		"Agarwal", "Bhat", "Banerjee", "Chatterjee", "Chauhan", "Das", "Deshpande", "Desai", "Dubey", "Ghosh",
		"Gupta", "Hegde", "Iyer", "Iyengar", "Jain", "Joshi", "Kapoor", "Khan", "Kulkarni", "Kumar",
		"Mehta", "Menon", "Mishra", "Mukherjee", "Nair", "Naidu", "Patel", "Pillai", "Prasad", "Rao",
		"Reddy", "Saxena", "Shah", "Sharma", "Shetty", "Singh", "Sinha", "Subramanian", "Thakur", "Tiwari",
		"Varma", "Verma", "Yadav", "Chowdhury", "Gill", "Fernandes", "D'Souza", "Mathew", "Qureshi", "Bose",
	}
}

func designations() []string {
	return []string{"Professor", "Associate Professor", "Assistant Professor"}
}

func excuseReasons() []string {
	return []string{
		"Approved medical leave",
		"On duty: inter-college sports meet",
		"On duty: technical symposium",
		"Approved leave: family emergency",
	}
}
