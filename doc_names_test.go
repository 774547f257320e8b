package outputs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocNamesExist checks that every unqualified Go name a doc comment of this package mentions
// (a CamelCase word such as CompleteDrive) is declared in the package: a comment must never send
// a reader to a function that does not exist.
func TestDocNamesExist(t *testing.T) {
	fset := token.NewFileSet()
	declared := map[string]bool{}
	var comments []*ast.CommentGroup
	// The root's comments name its own declarations and destination's (its vocabulary).
	for _, dir := range []string{".", "destination"} {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if dir == "." {
				comments = append(comments, f.Comments...)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch d := n.(type) {
				case *ast.FuncDecl:
					declared[d.Name.Name] = true
				case *ast.TypeSpec:
					declared[d.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range d.Names {
						declared[n.Name] = true
					}
				case *ast.Field:
					for _, n := range d.Names {
						declared[n.Name] = true
					}
				}
				return true
			})
		}
	}
	// A CamelCase word with at least two humps, not qualified by a package or type ("x.Name").
	word := regexp.MustCompile(`(^|[^.\w])([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)\b`)
	for _, cg := range comments {
		for _, m := range word.FindAllStringSubmatch(cg.Text(), -1) {
			if name := m[2]; !declared[name] && !knownWords[name] {
				t.Errorf("%s: a comment names %s, which this package does not declare", fset.Position(cg.Pos()), name)
			}
		}
	}
}

// knownWords are CamelCase words of comments that are not this package's names.
var knownWords = map[string]bool{"PostgreSQL": true, "SQLite": true}
