package pipeline

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// maxWindow bounds KPI windows: state for longer windows belongs in the lake.
const maxWindow = 31 * 24 * time.Hour

// ValidateSpec checks what the schema cannot: durations that must be
// positive or related, and topics that must not clash. Errors name the field.
func ValidateSpec(spec *v1alpha1.PipelineSpec) field.ErrorList {
	var errs field.ErrorList
	root := field.NewPath("spec")

	durations := []struct {
		path     *field.Path
		value    v1alpha1.Duration
		positive bool
	}{
		{root.Child("stallAfter"), spec.StallAfter, true},
		{root.Child("validation", "maxFutureSkew"), spec.Validation.MaxFutureSkew, false},
		{root.Child("validation", "maxEventAge"), spec.Validation.MaxEventAge, true},
		{root.Child("dedup", "window"), spec.Dedup.Window, true},
		{root.Child("state", "checkpointInterval"), spec.State.CheckpointInterval, true},
	}
	for _, d := range durations {
		errs = append(errs, checkDuration(d.path, d.value, d.positive)...)
	}

	if k := spec.KPIs; k != nil {
		kp := root.Child("kpis")
		errs = append(errs, checkDuration(kp.Child("maxOutOfOrderness"), k.MaxOutOfOrderness, false)...)
		errs = append(errs, checkDuration(kp.Child("allowedLateness"), k.AllowedLateness, false)...)
		for i, w := range k.Windows {
			wp := kp.Child("windows").Index(i)
			size, err := w.Size.Parse()
			if err != nil {
				errs = append(errs, field.Invalid(wp.Child("size"), w.Size, err.Error()))
				continue
			}
			if size < time.Second || size > maxWindow {
				errs = append(errs, field.Invalid(wp.Child("size"), w.Size, fmt.Sprintf("must be between 1s and %s", maxWindow)))
				continue
			}
			if size%time.Second != 0 {
				errs = append(errs, field.Invalid(wp.Child("size"), w.Size, "must be a whole number of seconds"))
			}
			if w.Type != v1alpha1.WindowHopping {
				continue
			}
			adv, err := w.Advance.Parse()
			switch {
			case err != nil:
				errs = append(errs, field.Invalid(wp.Child("advance"), w.Advance, err.Error()))
			case adv <= 0 || adv > size:
				errs = append(errs, field.Invalid(wp.Child("advance"), w.Advance, "must be positive and not exceed size"))
			case size%adv != 0:
				errs = append(errs, field.Invalid(wp.Child("advance"), w.Advance, fmt.Sprintf("size %s must be a multiple of advance", w.Size)))
			case size/adv > 60:
				errs = append(errs, field.Invalid(wp.Child("advance"), w.Advance, "a window may overlap at most 60 others (size/advance <= 60)"))
			}
		}
	}
	if l := spec.Sinks.Lake; l != nil {
		errs = append(errs, checkDuration(root.Child("sinks", "lake", "commitInterval"), l.CommitInterval, true)...)
	}
	return append(errs, checkTopics(spec)...)
}

func checkDuration(path *field.Path, d v1alpha1.Duration, positive bool) field.ErrorList {
	v, err := d.Parse()
	if err != nil {
		return field.ErrorList{field.Invalid(path, d, err.Error())}
	}
	if positive && d != "" && v <= 0 {
		return field.ErrorList{field.Invalid(path, d, "must be greater than zero")}
	}
	return nil
}

// checkTopics rejects an output topic that is also an input topic: the
// runtime would consume its own output.
func checkTopics(spec *v1alpha1.PipelineSpec) field.ErrorList {
	root := field.NewPath("spec")
	inputs := map[v1alpha1.TopicName]*field.Path{}
	addInput := func(p *field.Path, t v1alpha1.TopicName) {
		if t != "" {
			inputs[t] = p
		}
	}
	tp := root.Child("topics")
	addInput(tp.Child("transactions"), spec.Topics.Transactions)
	addInput(tp.Child("userEvents"), spec.Topics.UserEvents)
	addInput(tp.Child("productUpdates"), spec.Topics.ProductUpdates)
	addInput(tp.Child("feedback"), spec.Topics.Feedback)

	var errs field.ErrorList
	// The control topic is consumed too, and carries only retention
	// requests.
	if c := spec.Topics.Control; c != "" {
		if in, ok := inputs[c]; ok {
			errs = append(errs, field.Invalid(tp.Child("control"), c, fmt.Sprintf("control topic must differ from input topic %s", in)))
		}
		addInput(tp.Child("control"), c)
	}
	outputs := []struct {
		path  *field.Path
		topic v1alpha1.TopicName
	}{
		{tp.Child("deadLetter"), spec.Topics.DeadLetter},
		{tp.Child("audit"), spec.Topics.Audit},
		{root.Child("state", "changelogTopic"), spec.State.ChangelogTopic},
		{root.Child("sinks", "alertsTopic"), spec.Sinks.AlertsTopic},
		{root.Child("sinks", "customerProfilesTopic"), spec.Sinks.CustomerProfilesTopic},
		{root.Child("sinks", "enrichedTransactionsTopic"), spec.Sinks.EnrichedTransactionsTopic},
	}
	if spec.KPIs != nil {
		outputs = append(outputs, struct {
			path  *field.Path
			topic v1alpha1.TopicName
		}{root.Child("kpis", "topic"), spec.KPIs.Topic})
	}
	for _, o := range outputs {
		if in, ok := inputs[o.topic]; ok && o.topic != "" {
			errs = append(errs, field.Invalid(o.path, o.topic, fmt.Sprintf("output topic must differ from input topic %s", in)))
		}
	}
	return errs
}
