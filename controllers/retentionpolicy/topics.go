package retentionpolicy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/status"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// Topic configs a RetentionPolicy manages. Every other config of a topic is
// left alone.
const (
	configRetentionMs    = "retention.ms"
	configRetentionBytes = "retention.bytes"
	configCleanupPolicy  = "cleanup.policy"
)

var managedConfigs = []string{configCleanupPolicy, configRetentionBytes, configRetentionMs}

// DefaultTopicResync is how often the controller re-reads the topic configs
// of a policy to correct changes made out of band.
const DefaultTopicResync = 5 * time.Minute

// kafkaTimeout bounds one round of topic enforcement (list, describe,
// alter).
const kafkaTimeout = 15 * time.Second

// topicPlan is what one topic should look like.
type topicPlan struct {
	name string
	// desired config values by key.
	desired map[string]string
	// missing is true when the topic was named but the cluster has no such
	// topic.
	missing bool
}

// ConfigChange is one topic config that differs from the policy: its
// value before and after ("unset" when the topic had none).
type ConfigChange struct {
	Config string `json:"config"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// desiredConfigs turns one spec.topics entry into config values. Validate
// has accepted the durations and quantities.
func desiredConfigs(t v1alpha1.TopicRetention) (map[string]string, error) {
	out := map[string]string{}
	if t.Retention != "" {
		d, err := t.Retention.Parse()
		if err != nil {
			return nil, err
		}
		out[configRetentionMs] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	if t.RetentionBytes != nil {
		out[configRetentionBytes] = strconv.FormatInt(t.RetentionBytes.Value(), 10)
	}
	if t.CleanupPolicy != "" {
		out[configCleanupPolicy] = string(t.CleanupPolicy)
	}
	return out, nil
}

// protectedTopics are the topics a pattern never selects: the Pipeline's
// compacted state topics (the changelog and the customer-profile topic),
// whose cleanup.policy=compact keeps every customer's latest value. Naming
// one of them in selector.names still selects it.
func protectedTopics(p *v1alpha1.Pipeline) map[string]bool {
	changelog := string(p.Spec.State.ChangelogTopic)
	if changelog == "" {
		changelog = p.Name + "-changelog"
	}
	out := map[string]bool{changelog: true}
	if t := p.Spec.Sinks.CustomerProfilesTopic; t != "" {
		out[string(t)] = true
	}
	return out
}

// planTopics resolves every spec.topics entry against the cluster's topics.
// Entries apply in order: where two select the same topic, the later one
// wins for the configs it sets. Patterns skip internal topics (the broker's
// own, and names starting with "__") and the Pipeline's state topics.
func planTopics(rp *v1alpha1.RetentionPolicy, p *v1alpha1.Pipeline, cluster []kafkaio.TopicInfo) ([]topicPlan, error) {
	exists := map[string]bool{}
	for _, t := range cluster {
		exists[t.Name] = true
	}
	protected := protectedTopics(p)
	plans := map[string]*topicPlan{}
	add := func(name string, desired map[string]string) {
		tp, ok := plans[name]
		if !ok {
			tp = &topicPlan{name: name, desired: map[string]string{}, missing: !exists[name]}
			plans[name] = tp
		}
		for k, v := range desired {
			tp.desired[k] = v
		}
	}
	for i, entry := range rp.Spec.Topics {
		desired, err := desiredConfigs(entry)
		if err != nil {
			return nil, fmt.Errorf("spec.topics[%d]: %w", i, err)
		}
		for _, n := range entry.Selector.Names {
			add(n, desired)
		}
		if entry.Selector.Pattern == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + entry.Selector.Pattern + ")$")
		if err != nil {
			return nil, fmt.Errorf("spec.topics[%d].selector.pattern: %w", i, err)
		}
		for _, t := range cluster {
			if t.Internal || strings.HasPrefix(t.Name, "__") || protected[t.Name] {
				continue
			}
			if re.MatchString(t.Name) {
				add(t.Name, desired)
			}
		}
	}
	out := make([]topicPlan, 0, len(plans))
	for _, tp := range plans {
		out = append(out, *tp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// sameConfig compares a current and a desired value; cleanup.policy is a
// list whose order does not matter.
func sameConfig(key, current, desired string) bool {
	if key != configCleanupPolicy {
		return current == desired
	}
	split := func(s string) []string {
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		slices.Sort(parts)
		return parts
	}
	return slices.Equal(split(current), split(desired))
}

// diff lists the desired configs the topic does not have, sorted by key.
func diff(current, desired map[string]string) []ConfigChange {
	var out []ConfigChange
	for _, k := range managedConfigs {
		want, ok := desired[k]
		if !ok {
			continue
		}
		have, set := current[k]
		if set && sameConfig(k, have, want) {
			continue
		}
		if !set {
			have = "unset"
		}
		out = append(out, ConfigChange{Config: k, Old: have, New: want})
	}
	return out
}

func describeChanges(changes []ConfigChange, verb, was string) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		parts[i] = fmt.Sprintf("%s=%s (%s %s)", c.Config, c.New, was, c.Old)
	}
	return verb + " " + strings.Join(parts, ", ")
}

func describeConfigs(desired map[string]string) string {
	var parts []string
	for _, k := range managedConfigs {
		if v, ok := desired[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, ", ")
}

// enforceTopics reads the configs of the policy's topics, sets those that
// differ (unless dryRun) and returns one target status per topic. An error
// means the brokers could not be reached or did not answer.
func (r *Reconciler) enforceTopics(ctx context.Context, rp *v1alpha1.RetentionPolicy, p *v1alpha1.Pipeline, cfg kafkaio.Config) ([]v1alpha1.TargetStatus, error) {
	kc, err := kafkaio.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s spec.kafka: %w", p.Name, err)
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()

	cluster, err := kc.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	plans, err := planTopics(rp, p, cluster)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, tp := range plans {
		if !tp.missing {
			names = append(names, tp.name)
		}
	}
	current, describeErrs, err := kc.TopicConfigs(ctx, names, managedConfigs)
	if err != nil {
		return nil, err
	}

	targets := make([]v1alpha1.TargetStatus, 0, len(plans))
	changes := map[string][]ConfigChange{}
	set := map[string]map[string]string{}
	for _, tp := range plans {
		ts := v1alpha1.TargetStatus{Kind: v1alpha1.TargetTopic, Name: tp.name}
		switch {
		case tp.missing:
			ts.Message = "topic does not exist"
		case describeErrs[tp.name] != nil:
			ts.Message = "failed to read configs: " + describeErrs[tp.name].Error()
		default:
			c := diff(current[tp.name], tp.desired)
			switch {
			case len(c) == 0:
				ts.ConfigsApplied = true
				ts.Message = "in sync: " + describeConfigs(tp.desired)
			case rp.Spec.DryRun:
				ts.Message = describeChanges(c, "would set", "now")
			default:
				changes[tp.name] = c
				set[tp.name] = map[string]string{}
				for _, ch := range c {
					set[tp.name][ch.Config] = ch.New
				}
			}
		}
		targets = append(targets, ts)
	}
	if len(set) == 0 {
		return targets, nil
	}
	alterErrs, err := kc.SetTopicConfigs(ctx, set)
	if err != nil {
		return nil, err
	}
	now := r.Clock.Now()
	for i := range targets {
		ts := &targets[i]
		c, ok := changes[ts.Name]
		if !ok {
			continue
		}
		if e := alterErrs[ts.Name]; e != nil {
			ts.Message = describeChanges(c, "failed to set", "now") + ": " + e.Error()
			continue
		}
		ts.ConfigsApplied = true
		ts.Message = describeChanges(c, "set", "was")
		r.audit(ctx, rp, now, AuditRecord{
			Target:  AuditTarget{Kind: v1alpha1.TargetTopic, Name: ts.Name},
			Action:  "SetTopicConfigs",
			Changes: c,
		})
	}
	return targets, nil
}

// reconcileTopics enforces spec.topics and records the outcome in the
// status: the Topic targets and the KafkaReachable condition. It returns
// false, having marked the policy Stalled, when the brokers did not answer.
func (r *Reconciler) reconcileTopics(ctx context.Context, rp *v1alpha1.RetentionPolicy, p *v1alpha1.Pipeline, now time.Time) (bool, error) {
	if len(rp.Spec.Topics) == 0 {
		rp.Status.Targets = withTopicTargets(rp.Status.Targets, nil)
		apimeta.RemoveStatusCondition(&rp.Status.Conditions, v1alpha1.ConditionKafkaReachable)
		return true, nil
	}
	configOf := r.KafkaConfig
	if configOf == nil {
		configOf = r.defaultKafkaConfig
	}
	cfg, err := configOf(ctx, p)
	if err != nil {
		return false, err
	}
	key := types.NamespacedName{Namespace: rp.Namespace, Name: rp.Name}
	targets, err := r.enforceTopics(ctx, rp, p, cfg)
	if err != nil {
		msg := fmt.Sprintf("Kafka of pipeline %q: %v", p.Name, err)
		status.Set(rp, now, v1alpha1.ConditionKafkaReachable, metav1.ConditionFalse, v1alpha1.ReasonKafkaUnreachable, msg)
		status.MarkStalled(rp, now, v1alpha1.ReasonKafkaUnreachable, msg)
		r.failures.note(key)
		return false, nil
	}
	r.failures.reset(key)
	status.Set(rp, now, v1alpha1.ConditionKafkaReachable, metav1.ConditionTrue, v1alpha1.ReasonKafkaReachable, "brokers answered")
	rp.Status.Targets = withTopicTargets(rp.Status.Targets, targets)
	return true, nil
}

// withTopicTargets replaces the Topic targets of a status and keeps the
// others (written by the retention job).
func withTopicTargets(all, topics []v1alpha1.TargetStatus) []v1alpha1.TargetStatus {
	var out []v1alpha1.TargetStatus
	for _, t := range all {
		if t.Kind != v1alpha1.TargetTopic {
			out = append(out, t)
		}
	}
	out = append(out, topics...)
	return out
}
