package fraud

import (
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// CEL resolves a variable through its attribute machinery: the checked
// name goes to Activation.ResolveName, which maps it to the variable's
// index (a map lookup per read, per rule, per transaction). The planner
// hands every node it builds to the program's decorators, and readVars
// replaces the node that reads one declared variable, whole and
// unqualified, with varRead, which asks the activation for the variable by
// the index it was given at compile time. Everything else, the operators,
// functions, literals and every other attribute, stays cel-go's own.

// varRead reads declared variable idx of the rule set the program was
// compiled for. Given anything but that rule set's activation (a
// comprehension's nested scope, say) it evaluates the attribute it
// replaced, which resolves the variable by name as before.
type varRead struct {
	rs       *RuleSet
	idx      int
	fallback interpreter.InterpretableV2
}

var _ interpreter.InterpretableV2 = (*varRead)(nil)

// ID implements interpreter.Interpretable.
func (v *varRead) ID() int64 { return v.fallback.ID() }

// Eval implements interpreter.Interpretable.
func (v *varRead) Eval(vars interpreter.Activation) ref.Val {
	if f, ok := vars.(*interpreter.ExecutionFrame); ok {
		// Attributes built around varRead (an index, a conditional) hand
		// it their frame as an Activation.
		return v.Exec(f)
	}
	if a, ok := vars.(*activation); ok && a.rs == v.rs {
		return a.value(v.idx)
	}
	return v.fallback.Eval(vars)
}

// Exec implements interpreter.InterpretableV2.
func (v *varRead) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	if a, ok := frame.Unwrap().(*activation); ok && a.rs == v.rs {
		return a.value(v.idx)
	}
	return v.fallback.Exec(frame)
}

// readVars is the decorator that puts varRead in place of the attributes
// reading one of rs's variables. Only programs without a cost limit use
// it: cel-go's cost tracker prices nodes by their type, and must keep
// seeing attributes.
func (rs *RuleSet) readVars(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	ia, ok := i.(interpreter.InterpretableAttribute)
	if !ok || ia.IsOptional() {
		return i, nil
	}
	attr, ok := ia.Attr().(interpreter.NamespacedAttribute)
	if !ok || len(attr.Qualifiers()) > 0 {
		return i, nil
	}
	names := attr.CandidateVariableNames()
	if len(names) != 1 {
		return i, nil
	}
	idx, ok := rs.varIndex[names[0]]
	if !ok {
		return i, nil
	}
	return &varRead{rs: rs, idx: idx, fallback: i}, nil
}
