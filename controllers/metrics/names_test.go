package metrics_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/ecap-dev/ecap/controllers/testenv"
)

// promql parses PromQL as Prometheus does.
var promql = parser.NewParser(parser.Options{})

// grafanaRange matches Grafana's interval variables, which stand where
// PromQL wants a duration; every other variable the dashboards use sits
// inside a quoted label matcher and parses as it is.
var grafanaRange = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)

// metricNames parses one PromQL expression (Grafana variables allowed) and
// returns the metric names its selectors read.
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(grafanaRange.ReplaceAllString(expr, "5m"))
	if err != nil {
		return nil, err
	}
	var names []string
	var unnamed bool
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type.String() == "=" {
				name = m.Value
			}
		}
		if name == "" {
			unnamed = true
		} else if !slices.Contains(names, name) {
			names = append(names, name)
		}
		return nil
	})
	if unnamed {
		return names, fmt.Errorf("a selector has no fixed metric name, so its metric cannot be checked")
	}
	return names, nil
}

// checkExpr returns what is wrong with expr: a parse error, or metric names
// that nothing registers.
func checkExpr(expr string, known map[string]bool) []string {
	names, err := metricNames(expr)
	if err != nil {
		return []string{fmt.Sprintf("%v in %q", err, expr)}
	}
	var bad []string
	for _, n := range names {
		if !known[n] {
			bad = append(bad, fmt.Sprintf("metric %s is not registered by the runtime or the manager (in %q)", n, expr))
		}
	}
	return bad
}

// labelValuesQuery matches a Grafana variable query label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// dashboard is the part of a Grafana dashboard the check reads.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

// checkDashboard returns every problem of one dashboard's JSON: queries that
// do not parse or read unregistered metrics, panels without a query or not
// on the ${datasource} variable, and missing variables.
func checkDashboard(data []byte, known map[string]bool) []string {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return []string{fmt.Sprintf("not a dashboard: %v", err)}
	}
	var bad []string
	if d.UID == "" || d.Title == "" {
		bad = append(bad, "uid and title are required")
	}
	if d.SchemaVersion < 39 {
		bad = append(bad, fmt.Sprintf("schemaVersion %d is older than Grafana 11's", d.SchemaVersion))
	}
	onVariable := func(ds *datasource) bool { return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}" }
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		if !onVariable(v.Datasource) {
			bad = append(bad, fmt.Sprintf("variable %s: datasource must be ${datasource}", v.Name))
		}
		m := labelValuesQuery.FindStringSubmatch(v.Definition)
		if m == nil {
			bad = append(bad, fmt.Sprintf("variable %s: %q is not label_values(selector, label)", v.Name, v.Definition))
			continue
		}
		bad = append(bad, prefixed("variable "+v.Name, checkExpr(m[1], known))...)
	}
	if vars["datasource"] != "datasource" {
		bad = append(bad, "no datasource variable of type datasource")
	}
	for _, name := range []string{"namespace", "pipeline"} {
		if vars[name] != "query" {
			bad = append(bad, "no "+name+" variable")
		}
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			where := "panel " + strconvQuote(p.Title)
			if len(p.Targets) == 0 {
				bad = append(bad, where+": no query")
			}
			if !onVariable(p.Datasource) {
				bad = append(bad, where+": datasource must be ${datasource}")
			}
			for _, t := range p.Targets {
				if !onVariable(t.Datasource) {
					bad = append(bad, where+": query datasource must be ${datasource}")
				}
				bad = append(bad, prefixed(where, checkExpr(t.Expr, known))...)
			}
		}
	}
	walk(d.Panels)
	return bad
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func prefixed(prefix string, msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = prefix + ": " + m
	}
	return out
}

// ruleGroups is the `groups:` of a PrometheusRule.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// alertTemplateFuncs stands in for the template functions Prometheus gives
// annotations, so that their syntax can be checked.
var alertTemplateFuncs = template.FuncMap{
	"humanize": func(any) string { return "" }, "humanizePercentage": func(any) string { return "" },
	"humanizeDuration": func(any) string { return "" }, "humanize1024": func(any) string { return "" },
	"query": func(string) []any { return nil }, "first": func(any) any { return nil }, "value": func(any) any { return nil },
	"label": func(string, any) string { return "" }, "printf": fmt.Sprintf, "toUpper": strings.ToUpper, "toLower": strings.ToLower,
}

// checkRules returns every problem of a rule file: per alert a parsable
// expression over registered metrics, a `for`, a severity, and the summary,
// description and runbook_url annotations, the last pointing to a heading of
// docs/operations.md.
func checkRules(data []byte, known map[string]bool, anchors map[string]bool) []string {
	var rg ruleGroups
	if err := yaml.UnmarshalStrict(data, &rg); err != nil {
		return []string{fmt.Sprintf("not a rule file: %v", err)}
	}
	var bad []string
	if len(rg.Groups) == 0 {
		bad = append(bad, "no rule groups")
	}
	seen := map[string]bool{}
	for _, g := range rg.Groups {
		for _, r := range g.Rules {
			where := fmt.Sprintf("group %s, alert %s", g.Name, r.Alert)
			if r.Alert == "" || r.Record != "" {
				bad = append(bad, fmt.Sprintf("group %s: every rule must be an alert (record %q)", g.Name, r.Record))
				continue
			}
			if seen[r.Alert] {
				bad = append(bad, where+": duplicate alert name")
			}
			seen[r.Alert] = true
			bad = append(bad, prefixed(where, checkExpr(r.Expr, known))...)
			if r.For == "" {
				bad = append(bad, where+": `for` is required")
			} else if _, err := model.ParseDuration(r.For); err != nil {
				bad = append(bad, fmt.Sprintf("%s: for: %v", where, err))
			}
			if s := r.Labels["severity"]; s != "info" && s != "warning" && s != "critical" {
				bad = append(bad, fmt.Sprintf("%s: labels.severity %q is not info, warning or critical", where, s))
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					bad = append(bad, fmt.Sprintf("%s: annotations.%s is required", where, a))
				}
			}
			for k, text := range r.Annotations {
				defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}"
				if _, err := template.New(k).Funcs(alertTemplateFuncs).Parse(defs + text); err != nil {
					bad = append(bad, fmt.Sprintf("%s: annotations.%s: %v", where, k, err))
				}
			}
			if u := r.Annotations["runbook_url"]; u != "" {
				doc, anchor, _ := strings.Cut(u, "#")
				if !strings.HasSuffix(doc, "/docs/operations.md") || !anchors[anchor] {
					bad = append(bad, fmt.Sprintf("%s: runbook_url %s is not a heading of docs/operations.md", where, u))
				}
			}
		}
	}
	return bad
}

var nonAnchor = regexp.MustCompile(`[^a-z0-9 _-]`)

// markdownAnchors returns the anchors GitHub makes of a Markdown file's
// headings: lower case, punctuation dropped, spaces as hyphens.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	inFence := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.ReplaceAll(nonAnchor.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return anchors
}

// addGathered adds the series names of gathered families: a histogram
// exports <name>_bucket, _sum and _count, a summary <name>, _sum and _count.
func addGathered(t *testing.T, known map[string]bool, g prometheus.Gatherer) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		n := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			known[n+"_bucket"], known[n+"_sum"], known[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			known[n], known[n+"_sum"], known[n+"_count"] = true, true, true
		default:
			known[n] = true
		}
	}
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// addDescribed adds the names of described families that Gather left out
// (vectors without a child yet). Their type is unknown here, so they count
// by their base name only: a histogram vector nobody observed would make a
// _bucket query fail the check, never pass it wrongly.
func addDescribed(t *testing.T, known map[string]bool, descs []*prometheus.Desc) {
	t.Helper()
	for _, d := range descs {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		if !known[m[1]+"_bucket"] {
			known[m[1]] = true
		}
	}
}

func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
