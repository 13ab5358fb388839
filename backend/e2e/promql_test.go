package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promqlFunctions are PromQL's functions and aggregation operators
// (prometheus.io/docs/prometheus/latest/querying/functions/ and
// .../operators/#aggregation-operators), plus Grafana's label_values of
// template variable queries.
var promqlFunctions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`abs absent absent_over_time acos acosh asin asinh atan atanh avg avg_over_time
		bottomk ceil changes clamp clamp_max clamp_min cos cosh count count_over_time count_values day_of_month
		day_of_week day_of_year days_in_month deg delta deriv exp floor group histogram_avg histogram_count
		histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour
		idelta increase irate label_join label_replace last_over_time limitk limit_ratio ln log10 log2 mad_over_time
		max max_over_time min min_over_time minute month pi predict_linear present_over_time quantile
		quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc
		sqrt stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time tan tanh time timestamp topk vector year
		label_values`) {
		promqlFunctions[f] = true
	}
}

// promqlKeywords are words that are neither metrics nor functions.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true, "atan2": true,
}

// promqlLabelLists are keywords followed by a parenthesised label list.
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlMetricNames returns the metric names an expression selects, in
// order of appearance without duplicates. It is a lexer, not a full
// parser: it skips strings, label matchers ({...}), ranges and subqueries
// ([...]), label lists after by/without/on/ignoring/group_*, numbers and
// durations, Grafana variables ($x, ${x}), and reports unbalanced
// brackets and calls of functions PromQL does not have.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	var stack []byte
	closing := map[byte]byte{'(': ')', '{': '}', '[': ']'}
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
	isIdent := func(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
	nextNonSpace := func(i int) byte {
		for ; i < len(expr); i++ {
			if expr[i] != ' ' && expr[i] != '\n' && expr[i] != '\t' && expr[i] != '\r' {
				return expr[i]
			}
		}
		return 0
	}
	// skipGroup returns the index just past the bracket group opening at i.
	skipGroup := func(i int) (int, error) {
		open, depth := expr[i], 0
		for j := i; j < len(expr); j++ {
			switch c := expr[j]; c {
			case '"', '\'', '`':
				k := strings.IndexByte(expr[j+1:], c)
				if k < 0 {
					return 0, fmt.Errorf("unterminated string at %d", j)
				}
				j += k + 1
			case open:
				depth++
			case closing[open]:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %q at %d", open, i)
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			k := strings.IndexByte(expr[i+1:], c)
			if k < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			i += k + 2
		case c == '{' || c == '[':
			j, err := skipGroup(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '(':
			stack = append(stack, c)
			i++
		case c == ')':
			if len(stack) == 0 {
				return nil, fmt.Errorf("unbalanced ) at %d", i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unbalanced %q at %d", c, i)
		case c == '$':
			// Grafana variable: $name, ${name} or $__name.
			i++
			if i < len(expr) && expr[i] == '{' {
				j, err := skipGroup(i)
				if err != nil {
					return nil, err
				}
				i = j
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration (5m, 1h30m, 0.99, 1e3).
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			lower := strings.ToLower(word)
			next := nextNonSpace(j)
			switch {
			case promqlLabelLists[lower]:
				i = j
				if next == '(' {
					k := strings.IndexByte(expr[j:], '(')
					end, err := skipGroup(j + k)
					if err != nil {
						return nil, err
					}
					i = end
				}
				continue
			case promqlKeywords[lower]:
			case promqlFunctions[word] && aggregationModifier(expr[j:]):
				// sum by (...) (...), topk without (...) (...)
			case next == '(':
				if !promqlFunctions[word] {
					return nil, fmt.Errorf("unknown function %s", word)
				}
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j
		default:
			i++
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unbalanced (")
	}
	return names, nil
}

// aggregationModifier reports whether rest starts (after spaces) with the
// by or without modifier of an aggregation.
func aggregationModifier(rest string) bool {
	rest = strings.TrimLeft(rest, " \t\r\n")
	for _, kw := range []string{"by", "without"} {
		if strings.HasPrefix(strings.ToLower(rest), kw) {
			after := rest[len(kw):]
			if after == "" || after[0] == ' ' || after[0] == '(' || after[0] == '\n' || after[0] == '\t' {
				return true
			}
		}
	}
	return false
}

func TestPromQLMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`rate(a_total[5m])`, []string{"a_total"}},
		{`sum by (route, le) (rate(x_bucket{job="g", route=~"$route"}[$__rate_interval]))`, []string{"x_bucket"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 0.5 and sum(rate(h_count[5m])) > 1`, []string{"h_bucket", "h_count"}},
		{`(m1 - time()) < 14 * 86400`, []string{"m1"}},
		{`a / on (instance) group_left (version) b offset 1h`, []string{"a", "b"}},
		{`sum without (instance) (rate(c[6h] offset 15m)) unless d`, []string{"c", "d"}},
		{`label_values(gateway_build_info{job="gateway"}, instance)`, []string{"gateway_build_info", "instance"}},
		{`up{job=~"a|b"} == 0`, []string{"up"}},
		{`max(x{l="}{)(["})`, []string{"x"}},
		{`1e3 * y`, []string{"y"}},
	} {
		got, err := promqlMetricNames(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{`rate(a[5m]`, `sum(a))`, `a{job="x"`, `rat(a[5m])`, `a]`, `b{x="unterminated}`} {
		if got, err := promqlMetricNames(bad); err == nil {
			t.Errorf("%s: %q, want an error", bad, got)
		}
	}
}

// labelRef is a label an expression refers to: in a selector of Metric
// ({label="..."}), or, with Metric empty, in a grouping or matching list
// (by, without, on, ignoring, group_left, group_right).
type labelRef struct {
	Metric, Label string
}

// promqlLabelRefs returns the labels an expression selects on and groups
// by, in order of appearance. It expects an expression promqlMetricNames
// accepts (balanced brackets, terminated strings).
func promqlLabelRefs(expr string) ([]labelRef, error) {
	var refs []labelRef
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
	isIdent := func(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	ident := func(i int) (string, int) {
		j := i
		for j < len(expr) && isIdent(expr[j]) {
			j++
		}
		return expr[i:j], j
	}
	// matchers parses {name op "value", ...} starting at the '{' at i.
	matchers := func(metric string, i int) (int, error) {
		i++
		for {
			i = skipSpace(i)
			if i < len(expr) && expr[i] == '}' {
				return i + 1, nil
			}
			name, j := ident(i)
			if name == "" {
				return 0, fmt.Errorf("label name expected at %d", i)
			}
			refs = append(refs, labelRef{Metric: metric, Label: name})
			j = skipSpace(j)
			for j < len(expr) && strings.IndexByte("=!~", expr[j]) >= 0 {
				j++
			}
			j = skipSpace(j)
			if j >= len(expr) || strings.IndexByte("\"'`", expr[j]) < 0 {
				return 0, fmt.Errorf("label value expected at %d", j)
			}
			k := strings.IndexByte(expr[j+1:], expr[j])
			if k < 0 {
				return 0, fmt.Errorf("unterminated string at %d", j)
			}
			i = skipSpace(j + k + 2)
			if i < len(expr) && expr[i] == ',' {
				i++
			}
		}
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			k := strings.IndexByte(expr[i+1:], c)
			if k < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			i += k + 2
		case c == '{':
			j, err := matchers("", i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '$':
			// Grafana variable: $name, ${name}, $__name.
			i++
			if i < len(expr) && expr[i] == '{' {
				if k := strings.IndexByte(expr[i:], '}'); k >= 0 {
					i += k + 1
				}
			}
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			word, j := ident(i)
			next := skipSpace(j)
			switch {
			case promqlLabelLists[strings.ToLower(word)] && next < len(expr) && expr[next] == '(':
				end := strings.IndexByte(expr[next:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unbalanced ( at %d", next)
				}
				for _, l := range strings.Split(expr[next+1:next+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						refs = append(refs, labelRef{Label: l})
					}
				}
				i = next + end + 1
			case next < len(expr) && expr[next] == '{' && !promqlFunctions[word] && !promqlKeywords[strings.ToLower(word)]:
				k, err := matchers(word, next)
				if err != nil {
					return nil, err
				}
				i = k
			default:
				i = j
			}
		default:
			i++
		}
	}
	return refs, nil
}

func TestPromQLLabelRefs(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []labelRef
	}{
		{`rate(a_total{job="g", route=~"$route"}[5m])`, []labelRef{{"a_total", "job"}, {"a_total", "route"}}},
		{`sum by (route, le) (rate(x_bucket{code!="5.."}[$__rate_interval]))`, []labelRef{{"", "route"}, {"", "le"}, {"x_bucket", "code"}}},
		{`a / on (instance) group_left (version) b{l='}{'}`, []labelRef{{"", "instance"}, {"", "version"}, {"b", "l"}}},
		{`max(x{l="a,b", m=~"c"})`, []labelRef{{"x", "l"}, {"x", "m"}}},
		{`time() - y`, nil},
	} {
		got, err := promqlLabelRefs(tc.expr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
	if _, err := promqlLabelRefs(`a{=}`); err == nil {
		t.Error(`a{=}: no error`)
	}
}
