// Package segmentation reconciles Segmentations: it validates the schedule
// and the segment rules, resolves spec.pipelineRef, computes the next run and
// serves the validating webhook. Scoring itself runs in the Pipeline's
// runtime, which hot-reloads the Segmentation from its config.
package segmentation
