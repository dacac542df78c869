// Package argocd holds ECAP's Argo CD resource health check: one Lua script,
// health/ecap.lua, that serves every ECAP kind (they report the same
// conditions), and argocd-cm.yaml, the argocd-cm snippet that carries it
// under each kind's key (a test keeps the two equal). Evaluate runs a script the way Argo CD
// does, so tests can check the scripts with the interpreter Argo CD uses
// (gopher-lua). Nothing in the ECAP binary imports this package.
package argocd

import (
	"context"
	"embed"
	"fmt"
	"slices"
	"time"

	lua "github.com/yuin/gopher-lua"
)

//go:embed health/*.lua
var scripts embed.FS

// Kinds are the ECAP kinds that have a health script, in the order of the
// argocd-cm snippet.
var Kinds = []string{"Pipeline", "FraudRuleSet", "Segmentation", "RetentionPolicy"}

// Group is the API group of the ECAP kinds.
const Group = "analytics.ecap.dev"

// Health status codes as Argo CD defines them.
const (
	StatusHealthy     = "Healthy"
	StatusProgressing = "Progressing"
	StatusDegraded    = "Degraded"
	StatusSuspended   = "Suspended"
	StatusMissing     = "Missing"
	StatusUnknown     = "Unknown"
)

// Health is what a health script returns: hs.status and hs.message.
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// ScriptPath is the path, relative to this directory, of kind's script:
// the same one for every ECAP kind.
func ScriptPath(kind string) string {
	return "health/ecap.lua"
}

// Script returns the health script of kind.
func Script(kind string) (string, error) {
	if !slices.Contains(Kinds, kind) {
		return "", fmt.Errorf("no health script for kind %q: ECAP's kinds are %v", kind, Kinds)
	}
	b, err := scripts.ReadFile(ScriptPath(kind))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ConfigKey is the argocd-cm key under which Argo CD looks for kind's health
// script.
func ConfigKey(kind string) string {
	return "resource.customizations.health." + Group + "_" + kind
}

// Evaluate runs script against obj (an object as JSON-decoded maps) like
// Argo CD runs a health script from argocd-cm: a fresh Lua state with the
// base and table libraries only (Argo CD adds package and a reduced os,
// which the scripts do not use), the object as the global table `obj`, a one-second
// budget, and the returned table read as hs.status and hs.message. A status
// that is not one of Argo CD's codes is an error here (Argo CD would show
// Unknown).
func Evaluate(script string, obj map[string]any) (Health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return Health{}, fmt.Errorf("health script failed: %w", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("health script returned %s, want a table", l.Get(-1).Type())
	}
	h := Health{
		Status:  lua.LVAsString(ret.RawGetString("status")),
		Message: lua.LVAsString(ret.RawGetString("message")),
	}
	switch h.Status {
	case StatusHealthy, StatusProgressing, StatusDegraded, StatusSuspended, StatusMissing, StatusUnknown:
		return h, nil
	}
	return h, fmt.Errorf("health script returned status %q, not an Argo CD health status", h.Status)
}

// toLua converts a JSON-decoded value into Lua values the way Argo CD
// hands objects to scripts: objects become tables keyed by field name,
// arrays become sequences starting at 1, numbers become Lua numbers, and
// null (or any other type) becomes nil.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(l, item))
		}
		return t
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}
