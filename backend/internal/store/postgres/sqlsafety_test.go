package postgres_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The backend sends SQL text only as constants: every value travels as a
// bind parameter. This test reads every non-test Go file of the module and
// fails on SQL built from anything else:
//
//   - fmt.Sprintf (and friends) with a format that looks like SQL;
//   - a Query/QueryRow/Exec/Queue call whose SQL argument is not built
//     only from string literals, constants, numeric placeholders
//     (strconv.Itoa/FormatInt), quoted identifiers (pgx Identifier
//     Sanitize), strings.Builder text made of those, and local variables,
//     closure parameters or function parameters only ever bound to those
//     (every call of the function in the package is checked);
//   - in a package with the statement builder (a struct type `builder`
//     with a strings.Builder field `sql`, whose arg method returns a
//     numbered placeholder), SQL text appended with its s or w methods
//     that is not built that way; the builder's text (b.sql.String()) is
//     then safe.
//
// A Querier implementation forwarding its sql parameter (Query calling
// Query) is not reported: its callers are.

var sqlShape = regexp.MustCompile(`(?is)\b(select|insert|update|delete)\b.*\b(from|into|set|where|values)\b`)

// sqlCalls are the methods taking SQL text, with the index of the SQL
// argument.
var sqlCalls = map[string]int{"Query": 1, "QueryRow": 1, "Exec": 1, "QueryContext": 1, "QueryRowContext": 1,
	"ExecContext": 1, "Queue": 0, "Prepare": 2}

type sqlChecker struct {
	fset   *token.FileSet
	consts map[string]bool
	// funcs are the package's functions and methods by name; builder is
	// set when the package has the statement builder.
	funcs   map[string][]*ast.FuncDecl
	builder bool
	// fn is the function being checked.
	fn     *ast.FuncDecl
	issues []string
	// visiting holds the variables being resolved: a variable assigned
	// from itself (q = strings.Replace(q, ...)) is as safe as its other
	// assignments.
	visiting map[string]bool
}

func (c *sqlChecker) report(n ast.Node, msg string) {
	c.issues = append(c.issues, c.fset.Position(n.Pos()).String()+": "+msg)
}

// checkFiles checks one package's files.
func (c *sqlChecker) checkFiles(files []*ast.File) {
	c.consts = map[string]bool{}
	c.funcs = map[string][]*ast.FuncDecl{}
	c.builder = false
	for _, f := range files {
		for _, d := range f.Decls {
			switch g := d.(type) {
			case *ast.GenDecl:
				for _, s := range g.Specs {
					switch sp := s.(type) {
					case *ast.ValueSpec:
						if g.Tok == token.CONST {
							for _, n := range sp.Names {
								c.consts[n.Name] = true
							}
						}
					case *ast.TypeSpec:
						if st, ok := sp.Type.(*ast.StructType); ok && sp.Name.Name == "builder" {
							for _, fl := range st.Fields.List {
								if sel, ok := fl.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Builder" &&
									len(fl.Names) == 1 && fl.Names[0].Name == "sql" {
									c.builder = true
								}
							}
						}
					}
				}
			case *ast.FuncDecl:
				c.funcs[g.Name.Name] = append(c.funcs[g.Name.Name], g)
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			c.fn = fn
			if c.builder && !isBuilderMethod(fn) {
				c.checkBuilderWrites(fn)
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "fmt" && (strings.HasSuffix(sel.Sel.Name, "printf") || sel.Sel.Name == "Errorf") {
					for _, a := range call.Args {
						if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
							if s, err := strconv.Unquote(lit.Value); err == nil && sqlShape.MatchString(s) && strings.Contains(s, "%") {
								c.report(call, "SQL built with fmt."+sel.Sel.Name)
							}
						}
					}
					return true
				}
				i, isSQL := sqlCalls[sel.Sel.Name]
				if !isSQL || len(call.Args) <= i {
					return true
				}
				c.visiting = map[string]bool{}
				if c.forwards(fn, call.Args[i]) {
					return true
				}
				if !c.safe(call.Args[i], fn.Body, 0) {
					c.report(call, sel.Sel.Name+" with SQL text that is not constant")
				}
				return true
			})
		}
	}
}

// isBuilderMethod reports whether fn is a method of the statement builder
// (whose s and w write their parameters: their callers are checked).
func isBuilderMethod(fn *ast.FuncDecl) bool {
	if fn.Recv == nil || len(fn.Recv.List) != 1 {
		return false
	}
	t := fn.Recv.List[0].Type
	if st, ok := t.(*ast.StarExpr); ok {
		t = st.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.Name == "builder"
}

// checkBuilderWrites reports SQL text appended to a statement builder in
// fn (X.s(parts...), X.w(cond, values...), X.sql.WriteString(text)) that
// is not constant.
func (c *sqlChecker) checkBuilderWrites(fn *ast.FuncDecl) {
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		var text []ast.Expr
		switch {
		case sel.Sel.Name == "s":
			text = call.Args
		case sel.Sel.Name == "w" && len(call.Args) > 0:
			text = call.Args[:1]
		case sel.Sel.Name == "WriteString" && isSQLField(sel.X):
			text = call.Args
		default:
			return true
		}
		for _, a := range text {
			c.visiting = map[string]bool{}
			if !c.safe(a, fn.Body, 0) {
				c.report(call, "statement builder given SQL text that is not constant")
			}
		}
		return true
	})
}

// isSQLField reports whether e is X.sql (the builder's text).
func isSQLField(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "sql"
}

// forwards reports whether arg is the SQL parameter of fn, itself a method
// taking SQL text (a Querier implementation delegating the call).
func (c *sqlChecker) forwards(fn *ast.FuncDecl, arg ast.Expr) bool {
	id, ok := arg.(*ast.Ident)
	if !ok || fn.Recv == nil {
		return false
	}
	i, isSQL := sqlCalls[fn.Name.Name]
	if !isSQL {
		return false
	}
	return paramIndex(fn, id.Name) == i
}

// paramIndex returns the position of the parameter name among fn's
// parameters, or -1.
func paramIndex(fn *ast.FuncDecl, name string) int {
	idx := 0
	for _, f := range fn.Type.Params.List {
		if len(f.Names) == 0 {
			idx++
			continue
		}
		for _, n := range f.Names {
			if n.Name == name {
				return idx
			}
			idx++
		}
	}
	return -1
}

// safeParam: every call of the function fn (by name, in the package)
// passes safe text at position idx, checked in the caller's body.
func (c *sqlChecker) safeParam(fn string, idx, depth int) bool {
	if depth > 8 {
		return false
	}
	saved := c.fn
	defer func() { c.fn = saved }()
	calls := 0
	ok := true
	for _, decls := range c.funcs {
		for _, caller := range decls {
			if caller.Body == nil {
				continue
			}
			ast.Inspect(caller.Body, func(n ast.Node) bool {
				call, isCall := n.(*ast.CallExpr)
				if !isCall {
					return true
				}
				var name string
				switch f := call.Fun.(type) {
				case *ast.Ident:
					name = f.Name
				case *ast.SelectorExpr:
					name = f.Sel.Name
				}
				if name != fn {
					return true
				}
				calls++
				c.fn = caller
				if idx >= len(call.Args) || !c.safe(call.Args[idx], caller.Body, depth+1) {
					ok = false
				}
				return true
			})
		}
	}
	return ok && calls > 0
}

// safe reports whether e evaluates to constant SQL text (see above).
func (c *sqlChecker) safe(e ast.Expr, body *ast.BlockStmt, depth int) bool {
	if depth > 8 {
		return false
	}
	switch x := e.(type) {
	case *ast.BasicLit:
		return x.Kind == token.STRING
	case *ast.ParenExpr:
		return c.safe(x.X, body, depth+1)
	case *ast.BinaryExpr:
		return x.Op == token.ADD && c.safe(x.X, body, depth+1) && c.safe(x.Y, body, depth+1)
	case *ast.Ident:
		if c.consts[x.Name] {
			return true
		}
		return c.safeVar(x.Name, body, depth+1)
	case *ast.CallExpr:
		sel, ok := x.Fun.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		if pkg, ok := sel.X.(*ast.Ident); ok {
			switch pkg.Name + "." + sel.Sel.Name {
			case "strconv.Itoa", "strconv.FormatInt":
				return true
			case "strings.Replace", "strings.ReplaceAll":
				for _, a := range x.Args[:3] {
					if !c.safe(a, body, depth+1) {
						return false
					}
				}
				return true
			}
		}
		switch sel.Sel.Name {
		case "Sanitize":
			return true // pgx.Identifier: a quoted identifier
		case "String":
			if id, ok := sel.X.(*ast.Ident); ok {
				return c.safeBuilder(id.Name, body, depth+1)
			}
			// The statement builder's text: every write to it is checked
			// by checkBuilderWrites.
			return c.builder && isSQLField(sel.X)
		case "arg":
			return c.builder // the builder's numbered placeholder
		}
	}
	return false
}

// safeVar: every assignment to name in body is safe; a parameter of a
// function literal bound to a variable is safe when every call of that
// variable passes a safe argument.
func (c *sqlChecker) safeVar(name string, body *ast.BlockStmt, depth int) bool {
	key := name
	if c.fn != nil {
		key = c.fn.Name.Name + "." + name
	}
	if c.visiting[key] {
		return true
	}
	c.visiting[key] = true
	defer delete(c.visiting, key)
	if c.fn != nil && c.fn.Body == body {
		// A parameter of the function: every call of it must pass safe text.
		if i := paramIndex(c.fn, name); i >= 0 {
			return c.safeParam(c.fn.Name.Name, i, depth)
		}
	}
	found, ok := false, true
	ast.Inspect(body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.RangeStmt:
			// for _, q := range []string{"...", "..."}
			if id, isID := s.Value.(*ast.Ident); isID && id.Name == name {
				found = true
				lit, isLit := s.X.(*ast.CompositeLit)
				if !isLit {
					ok = false
					return true
				}
				for _, el := range lit.Elts {
					if !c.safe(el, body, depth) {
						ok = false
					}
				}
			}
		case *ast.AssignStmt:
			for i, l := range s.Lhs {
				if id, isID := l.(*ast.Ident); isID && id.Name == name && i < len(s.Rhs) && len(s.Lhs) == len(s.Rhs) {
					found = true
					if !c.safe(s.Rhs[i], body, depth) {
						ok = false
					}
				}
			}
			// name := func(p ...) is checked through its parameters.
			for i, r := range s.Rhs {
				lit, isLit := r.(*ast.FuncLit)
				if !isLit || i >= len(s.Lhs) {
					continue
				}
				fnName, _ := s.Lhs[i].(*ast.Ident)
				idx := 0
				for _, f := range lit.Type.Params.List {
					for _, pn := range f.Names {
						if pn.Name == name && fnName != nil {
							found = true
							if !c.safeArgs(fnName.Name, idx, body, depth) {
								ok = false
							}
						}
						idx++
					}
				}
			}
		case *ast.ValueSpec:
			for i, id := range s.Names {
				if id.Name == name && i < len(s.Values) {
					found = true
					if !c.safe(s.Values[i], body, depth) {
						ok = false
					}
				}
			}
		}
		return true
	})
	return found && ok
}

// safeArgs: every call fn(...) in body passes a safe argument at idx.
func (c *sqlChecker) safeArgs(fn string, idx int, body *ast.BlockStmt, depth int) bool {
	ok := true
	ast.Inspect(body, func(n ast.Node) bool {
		call, isCall := n.(*ast.CallExpr)
		if id, isID := call2ident(call, isCall); isID && id == fn {
			if idx >= len(call.Args) || !c.safe(call.Args[idx], body, depth) {
				ok = false
			}
		}
		return true
	})
	return ok
}

func call2ident(call *ast.CallExpr, isCall bool) (string, bool) {
	if !isCall {
		return "", false
	}
	id, ok := call.Fun.(*ast.Ident)
	if !ok {
		return "", false
	}
	return id.Name, true
}

// safeBuilder: every name.WriteString(x) / WriteByte in body writes safe text.
func (c *sqlChecker) safeBuilder(name string, body *ast.BlockStmt, depth int) bool {
	ok := true
	ast.Inspect(body, func(n ast.Node) bool {
		call, isCall := n.(*ast.CallExpr)
		if !isCall {
			return true
		}
		sel, isSel := call.Fun.(*ast.SelectorExpr)
		if !isSel {
			return true
		}
		if id, isID := sel.X.(*ast.Ident); isID && id.Name == name {
			switch sel.Sel.Name {
			case "WriteString":
				if len(call.Args) != 1 || !c.safe(call.Args[0], body, depth) {
					ok = false
				}
			case "Write", "WriteRune":
				ok = false
			}
		}
		return true
	})
	return ok
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func TestNoStringBuiltSQL(t *testing.T) {
	root := moduleRoot(t)
	byDir := map[string][]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &sqlChecker{fset: fset}
	calls := 0
	for _, files := range byDir {
		c.checkFiles(files)
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
						if _, ok := sqlCalls[sel.Sel.Name]; ok {
							calls++
						}
					}
				}
				return true
			})
		}
	}
	if calls < 50 {
		t.Fatalf("found only %d SQL calls: the walk missed the code", calls)
	}
	for _, issue := range c.issues {
		t.Error(strings.TrimPrefix(issue, root+string(filepath.Separator)))
	}
}

// TestSQLCheckerCatchesBuiltSQL proves the checker fails on the patterns
// it exists for.
func TestSQLCheckerCatchesBuiltSQL(t *testing.T) {
	src := `package x
const cols = "id, name"
func ok(db DB, id string, n int) {
	db.Query(ctx, "SELECT "+cols+" FROM t WHERE id = $1", id)
	var b strings.Builder
	b.WriteString("SELECT 1 FROM t LIMIT $")
	b.WriteString(strconv.Itoa(n))
	db.Exec(ctx, b.String())
	where := func(cond string) { b.WriteString(cond) }
	where("a = $1")
	db.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{id}.Sanitize())
}
func bad1(db DB, id string) { db.Query(ctx, "SELECT * FROM t WHERE id = '"+id+"'") }
func bad2(db DB, col string) { db.Exec(ctx, fmt.Sprintf("UPDATE t SET %s = 1 WHERE id = 2", col)) }
func bad3(db DB, name string) {
	var b strings.Builder
	b.WriteString("DELETE FROM t WHERE name = ")
	b.WriteString(name)
	db.Exec(ctx, b.String())
}
func bad4(db DB, input string) {
	q := "SELECT 1"
	q = q + input
	db.QueryRow(ctx, q)
}
func bad5(db DB, input string) {
	where := func(cond string) { db.Exec(ctx, cond) }
	where(input)
}
`
	// The statement builder, function parameters and forwarding Queriers.
	builderSrc := `package y
type builder struct {
	sql  strings.Builder
	args []any
}
func (b *builder) arg(v any) string { b.args = append(b.args, v); return "$" }
func (b *builder) s(parts ...string) { for _, p := range parts { b.sql.WriteString(p) } }
func (b *builder) w(cond string, vals ...any) { b.sql.WriteString(cond) }
type reader struct{ q DB }
func (r reader) Query(ctx context.Context, sql string, args ...any) { r.q.Query(ctx, sql, args...) }
func get(db DB, lock string, n int) {
	var b builder
	b.s("SELECT 1 FROM t LIMIT ", b.arg(n))
	b.w("a = ?", n)
	b.s(lock)
	db.QueryRow(ctx, b.sql.String(), b.args...)
}
func okCaller(db DB) { get(db, " FOR UPDATE", 1) }
func badCaller(db DB, input string) { get(db, input, 1) }
func badWhere(db DB, input string) {
	var b builder
	b.w(input)
	db.Query(ctx, b.sql.String())
}
func badDirect(db DB, input string) {
	var b builder
	b.sql.WriteString(input)
	db.Query(ctx, b.sql.String())
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &sqlChecker{fset: fset}
	c.checkFiles([]*ast.File{f})
	var lines []int
	for _, is := range c.issues {
		parts := strings.Split(is, ":")
		n, _ := strconv.Atoi(parts[1])
		lines = append(lines, n)
	}
	// bad1 (line 13), bad2 (14: Sprintf and Exec), bad3 (19), bad4 (24), bad5 (27).
	want := map[int]bool{13: true, 14: true, 19: true, 24: true, 27: true}
	got := map[int]bool{}
	for _, l := range lines {
		got[l] = true
		if !want[l] {
			t.Errorf("flagged safe code at line %d: %v", l, c.issues)
		}
	}
	for l := range want {
		if !got[l] {
			t.Errorf("missed unsafe SQL at line %d (issues: %v)", l, c.issues)
		}
	}

	f, err = parser.ParseFile(fset, "y.go", builderSrc, 0)
	if err != nil {
		t.Fatal(err)
	}
	c = &sqlChecker{fset: fset}
	c.checkFiles([]*ast.File{f})
	// b.s(lock) (line 15: lock is bound to input by badCaller), b.w(input)
	// (22), b.sql.WriteString(input) (27).
	want = map[int]bool{15: true, 22: true, 27: true}
	got = map[int]bool{}
	for _, is := range c.issues {
		n, _ := strconv.Atoi(strings.Split(is, ":")[1])
		got[n] = true
		if !want[n] {
			t.Errorf("flagged safe builder code at line %d: %v", n, c.issues)
		}
	}
	for l := range want {
		if !got[l] {
			t.Errorf("missed unsafe builder SQL at line %d (issues: %v)", l, c.issues)
		}
	}
}
