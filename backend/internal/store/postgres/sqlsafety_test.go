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
//     Sanitize), strings.Builder text made of those, and local variables
//     or closure parameters only ever bound to those.

var sqlShape = regexp.MustCompile(`(?is)\b(select|insert|update|delete)\b.*\b(from|into|set|where|values)\b`)

// sqlCalls are the methods taking SQL text, with the index of the SQL
// argument.
var sqlCalls = map[string]int{"Query": 1, "QueryRow": 1, "Exec": 1, "QueryContext": 1, "QueryRowContext": 1,
	"ExecContext": 1, "Queue": 0, "Prepare": 2}

type sqlChecker struct {
	fset   *token.FileSet
	consts map[string]bool
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
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						c.consts[n.Name] = true
					}
				}
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
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
				if !c.safe(call.Args[i], fn.Body, 0) {
					c.report(call, sel.Sel.Name+" with SQL text that is not constant")
				}
				return true
			})
		}
	}
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
		}
	}
	return false
}

// safeVar: every assignment to name in body is safe; a parameter of a
// function literal bound to a variable is safe when every call of that
// variable passes a safe argument.
func (c *sqlChecker) safeVar(name string, body *ast.BlockStmt, depth int) bool {
	if c.visiting[name] {
		return true
	}
	c.visiting[name] = true
	defer delete(c.visiting, name)
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
}
