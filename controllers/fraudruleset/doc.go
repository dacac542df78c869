// Package fraudruleset reconciles FraudRuleSets: it compiles every rule
// against the declared variable environment, reports RulesCompiled (naming
// the failing rule and the compiler's message) and PipelineResolved, and
// serves the validating webhook that refuses rules that do not compile.
//
// The Pipeline controller folds compiled rule sets into the runtime config;
// the runtime hot-reloads them.
package fraudruleset
