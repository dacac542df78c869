package retention

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/lake"
)

// ErrLake marks a lake target that failed on the object store (or the
// local lake directory); the run's status reason is LakeUnavailable.
var ErrLake = errors.New("lake operation failed")

// DefaultKeepVersions is spec.lake[].keepVersions' default.
const DefaultKeepVersions = 10

// LakeDataset expires the partitions of one lake dataset older than
// ExpireAfter (delete, or archive under ArchivePrefix), then vacuums the
// dataset's manifest versions beyond KeepVersions.
type LakeDataset struct {
	Lake          *lake.Lake
	Dataset       lake.Dataset
	ExpireAfter   time.Duration
	Action        lake.ExpireAction
	ArchivePrefix string
	// KeepVersions is how many manifest versions per partition stay
	// readable; 0 is DefaultKeepVersions.
	KeepVersions int
	// Note is appended to the message (a selector that matched nothing
	// else, say).
	Note string
}

var _ Target = (*LakeDataset)(nil)

// Kind implements Target.
func (d *LakeDataset) Kind() v1alpha1.TargetKind { return v1alpha1.TargetLakeDataset }

// Name implements Target: the dataset.
func (d *LakeDataset) Name() string { return string(d.Dataset) }

// Enforce implements Target. Expire and Vacuum read the lake's clock,
// which the job sets to the run's (lake.Options.Now).
func (d *LakeDataset) Enforce(ctx context.Context, run *Run) (Outcome, error) {
	var out Outcome
	keep := d.KeepVersions
	if keep == 0 {
		keep = DefaultKeepVersions
	}
	exp, err := d.Lake.Expire(ctx, lake.ExpireOptions{Dataset: d.Dataset, OlderThan: d.ExpireAfter, Action: d.Action,
		ArchivePrefix: d.ArchivePrefix, DryRun: run.DryRun})
	n := int64(len(exp.Partitions))
	if d.Action == lake.ExpireArchive {
		out.PartitionsArchived = n
	} else {
		out.PartitionsDeleted = n
	}
	out.BytesFreed = exp.BytesFreed
	verb, past := "deleted", "deleted"
	if d.Action == lake.ExpireArchive {
		verb, past = "archived under "+strings.Trim(d.ArchivePrefix, "/")+"/", "archived"
	}
	if run.DryRun {
		verb = "would be " + verb
	}
	cutoff := run.Now.Add(-d.ExpireAfter).UTC().Truncate(time.Second)
	out.Message = fmt.Sprintf("%d partitions ended before %s %s (%d bytes)", n, cutoff.Format(time.RFC3339), verb, exp.BytesFreed)
	if err != nil {
		out.Message += fmt.Sprintf("; failed after %d %s: %v", n, past, err)
		return d.note(out), fmt.Errorf("%w: %s: %w", ErrLake, d.Lake, err)
	}
	vac, err := d.Lake.Vacuum(ctx, lake.VacuumOptions{Dataset: d.Dataset, KeepVersions: keep, DryRun: run.DryRun})
	out.BytesFreed += vac.BytesFreed
	out.Message += fmt.Sprintf("; vacuum keeping %d versions: %d manifests and %d files (%d bytes)", keep, vac.ManifestsDeleted, vac.FilesDeleted, vac.BytesFreed)
	if err != nil {
		out.Message += "; vacuum failed: " + err.Error()
		return d.note(out), fmt.Errorf("%w: %s: %w", ErrLake, d.Lake, err)
	}
	return d.note(out), nil
}

func (d *LakeDataset) note(o Outcome) Outcome {
	if d.Note != "" {
		o.Message += "; " + d.Note
	}
	return o
}

// LakeErasure removes customers' rows from one lake dataset: every file
// of a partition's newest version holding them is rewritten without them,
// then every partition with an erasure version that is not its oldest is
// vacuumed down to the versions from that erasure on, so no older version
// (and no file only it listed) keeps the rows. The vacuum deletes those
// files because a dropped version listed them, not because of the orphan
// grace. Looking for erasure versions, rather than only at the partitions
// rewritten now, finishes the vacuum of an earlier run that failed after
// its rewrite; partitions never erased keep their history.
type LakeErasure struct {
	Lake        *lake.Lake
	Dataset     lake.Dataset
	CustomerIDs []string
	// Label names the target instead of the dataset (an archive's
	// "<archivePrefix>/<dataset>").
	Label string
}

var _ Target = (*LakeErasure)(nil)

// Kind implements Target.
func (e *LakeErasure) Kind() v1alpha1.TargetKind { return v1alpha1.TargetLakeErasure }

// Name implements Target: the dataset, or Label.
func (e *LakeErasure) Name() string {
	if e.Label != "" {
		return e.Label
	}
	return string(e.Dataset)
}

// Enforce implements Target.
func (e *LakeErasure) Enforce(ctx context.Context, run *Run) (Outcome, error) {
	res, err := e.Lake.Erase(ctx, e.Dataset, e.CustomerIDs, run.DryRun)
	out := Outcome{RowsErased: res.RowsErased}
	verb := "erased"
	if run.DryRun {
		verb = "would erase"
	}
	out.Message = fmt.Sprintf("%s %d rows of %d requested customers in %d files of %d partitions", verb, res.RowsErased, len(e.CustomerIDs), res.FilesRewritten, res.Partitions)
	if err != nil {
		out.Message += "; " + err.Error()
	}
	if run.DryRun {
		if err != nil {
			return out, fmt.Errorf("%w: %s: %w", ErrLake, e.Lake, err)
		}
		return out, nil
	}
	// Vacuum even after a failed rewrite: the partitions rewritten before
	// it still hold the rows in their older versions.
	plan, perr := e.vacuumPlan(ctx)
	var manifests, files int
	var verr error
	for keep, parts := range plan {
		vac, err := e.Lake.Vacuum(ctx, lake.VacuumOptions{Dataset: e.Dataset, KeepVersions: keep, Partitions: parts})
		out.BytesFreed += vac.BytesFreed
		manifests += vac.ManifestsDeleted
		files += vac.FilesDeleted
		verr = errors.Join(verr, err)
	}
	if manifests+files > 0 {
		out.Message += fmt.Sprintf("; versions before the erasure vacuumed (%d manifests, %d files)", manifests, files)
	}
	if verr = errors.Join(perr, verr); verr != nil {
		out.Message += "; vacuum failed, older versions may still hold the rows (the next run retries): " + verr.Error()
	}
	if err = errors.Join(err, verr); err != nil {
		return out, fmt.Errorf("%w: %s: %w", ErrLake, e.Lake, err)
	}
	return out, nil
}

// vacuumPlan returns, by the number of versions to keep, the partitions
// whose newest erasure version has older versions before it.
func (e *LakeErasure) vacuumPlan(ctx context.Context) (map[int][]string, error) {
	parts, err := e.Lake.Partitions(ctx, e.Dataset)
	if err != nil {
		return nil, err
	}
	plan := map[int][]string{}
	for _, p := range parts {
		vs, err := e.Lake.Versions(ctx, e.Dataset, p)
		if err != nil {
			return plan, err
		}
		for i := len(vs) - 1; i > 0; i-- {
			m, err := e.Lake.Manifest(ctx, e.Dataset, p, vs[i])
			if err != nil {
				return plan, err
			}
			if m.Operation == "erase" {
				plan[len(vs)-i] = append(plan[len(vs)-i], p)
				break
			}
		}
	}
	return plan, nil
}

// SelectDatasets returns the datasets of have that sel chooses, in
// have's order: names exactly, pattern as an anchored RE2 expression.
// unmatched are the selector's names the lake sink does not write, or the
// pattern when it matches none.
func SelectDatasets(sel v1alpha1.TargetSelector, have []lake.Dataset) (chosen []lake.Dataset, unmatched []string, err error) {
	var re *regexp.Regexp
	if sel.Pattern != "" {
		if re, err = regexp.Compile("^(?:" + sel.Pattern + ")$"); err != nil {
			return nil, nil, fmt.Errorf("selector.pattern: %w", err)
		}
	}
	byPattern := false
	for _, d := range have {
		match := false
		for _, n := range sel.Names {
			if n == string(d) {
				match = true
			}
		}
		if re != nil && re.MatchString(string(d)) {
			match, byPattern = true, true
		}
		if match {
			chosen = append(chosen, d)
		}
	}
	for _, n := range sel.Names {
		found := false
		for _, d := range have {
			found = found || n == string(d)
		}
		if !found {
			unmatched = append(unmatched, n)
		}
	}
	if re != nil && !byPattern {
		unmatched = append(unmatched, "pattern "+sel.Pattern)
	}
	sort.Strings(unmatched)
	return chosen, unmatched, nil
}
