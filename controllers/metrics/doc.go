// Package metrics exports the manager's own ECAP series on controller-runtime's
// metrics registry, next to the controller_runtime_* and workqueue_* series
// that controller-runtime registers itself.
//
// ecap_resource_condition has one series per condition of every ECAP object
// the manager's cache holds, with value 1 and the condition's type, status
// and reason as labels, so that alerts can match a state such as
// RulesCompiled=False without a kube-state-metrics custom-resource config.
// The series are computed from the cache at scrape time: reconcilers need no
// metric calls, and deleted objects vanish with their series.
package metrics
