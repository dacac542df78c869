// Package rulewatch feeds a runtime the FraudRuleSets of its Pipeline
// straight from the API server. A mounted ConfigMap reaches a pod only after
// the kubelet's next sync (a minute or more); a watch delivers a changed
// rule set within milliseconds, which is what makes a rule edit score the
// next events. The runtime needs only get, list and watch on fraudrulesets
// in its namespace, which the Role the operator gives it grants.
package rulewatch

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Options say what to watch and where changes go.
type Options struct {
	// Config reaches the API server (rest.InClusterConfig in a pod).
	Config *rest.Config
	// Namespace and Pipeline select the rule sets: those in Namespace whose
	// spec.pipelineRef.name is Pipeline.
	Namespace, Pipeline string
	// Apply receives the complete, name-sorted list of selected rule sets
	// after the initial sync and after every change to one of them. Calls
	// are serialized.
	Apply  func([]v1alpha1.FraudRuleSetConfig)
	Logger *slog.Logger
}

// Watcher is a running watch.
type Watcher struct {
	o     Options
	cache cache.Cache
	mu    sync.Mutex // serializes apply
	// synced gates event handlers: during the initial list the cache holds
	// only part of the rule sets, and applying a partial list would drop
	// the others for a moment.
	synced atomic.Bool
}

// Start starts the watch and returns once the cache has synced and the
// first Apply has run, or with an error. The watch stops when ctx is done.
func Start(ctx context.Context, o Options) (*Watcher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(o.Config, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}})
	if err != nil {
		return nil, fmt.Errorf("failed to create the FraudRuleSet cache: %w", err)
	}
	w := &Watcher{o: o, cache: c}
	inf, err := c.GetInformer(ctx, &v1alpha1.FraudRuleSet{})
	if err != nil {
		return nil, fmt.Errorf("failed to create the FraudRuleSet informer: %w", err)
	}
	on := func(obj any) {
		if !w.synced.Load() {
			return
		}
		if f, ok := obj.(*v1alpha1.FraudRuleSet); ok && f.Spec.PipelineRef.Name != o.Pipeline {
			return
		}
		w.apply(ctx)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: on,
		UpdateFunc: func(oldObj, newObj any) {
			if !w.synced.Load() {
				return
			}
			// A rule set moved to another pipeline leaves this one.
			if f, ok := oldObj.(*v1alpha1.FraudRuleSet); ok && f.Spec.PipelineRef.Name == o.Pipeline {
				w.apply(ctx)
				return
			}
			on(newObj)
		},
		DeleteFunc: func(any) {
			if w.synced.Load() {
				w.apply(ctx)
			}
		},
	}); err != nil {
		return nil, err
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			o.Logger.Error("FraudRuleSet watch stopped", "err", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("FraudRuleSet cache in namespace %s did not sync", o.Namespace)
	}
	w.synced.Store(true)
	w.apply(ctx)
	return w, nil
}

// apply lists the selected rule sets from the cache and hands them over.
// Status-only updates change no generation; the engine compiles once per
// generation, so they cost a list and a comparison.
func (w *Watcher) apply(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := &v1alpha1.FraudRuleSetList{}
	if err := w.cache.List(ctx, list); err != nil {
		w.o.Logger.Error("failed to list FraudRuleSets from the cache", "err", err)
		return
	}
	var out []v1alpha1.FraudRuleSetConfig
	for i := range list.Items {
		f := &list.Items[i]
		if f.Spec.PipelineRef.Name != w.o.Pipeline || !f.DeletionTimestamp.IsZero() {
			continue
		}
		out = append(out, v1alpha1.FraudRuleSetConfig{Name: f.Name, Generation: f.Generation, Spec: *f.Spec.DeepCopy()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	w.o.Apply(out)
}
