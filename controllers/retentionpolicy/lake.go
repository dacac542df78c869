package retentionpolicy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/retention"
)

// lakeOrder is the order lake targets run and show in the status.
var lakeOrder = []lake.Dataset{lake.Transactions, lake.UserEvents, lake.FraudDecisions, lake.KPIs}

// lakeRetention is one spec.lake entry, checked.
type lakeRetention struct {
	field       string
	spec        v1alpha1.LakeRetention
	expireAfter time.Duration
	action      lake.ExpireAction
}

// parseLake checks spec.lake; errors name the field.
func parseLake(rp *v1alpha1.RetentionPolicy) ([]lakeRetention, error) {
	var out []lakeRetention
	for i, l := range rp.Spec.Lake {
		field := fmt.Sprintf("spec.lake[%d]", i)
		d, err := l.ExpireAfter.Parse()
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s.expireAfter: %q is not a positive duration", field, l.ExpireAfter)
		}
		lr := lakeRetention{field: field, spec: l, expireAfter: d, action: lake.ExpireDelete}
		switch l.Action {
		case "", v1alpha1.LakeDelete:
		case v1alpha1.LakeArchive:
			if strings.Trim(l.ArchivePrefix, "/") == "" {
				return nil, fmt.Errorf("%s.archivePrefix: required when action is Archive", field)
			}
			lr.action = lake.ExpireArchive
		default:
			return nil, fmt.Errorf("%s.action: %q is not Delete or Archive", field, l.Action)
		}
		if l.KeepVersions < 0 {
			return nil, fmt.Errorf("%s.keepVersions: must be at least 1, got %d", field, l.KeepVersions)
		}
		if len(l.Selector.Names) == 0 && l.Selector.Pattern == "" {
			return nil, fmt.Errorf("%s.selector: one of names or pattern must be set", field)
		}
		out = append(out, lr)
	}
	return out, nil
}

// lakeDatasets are the datasets the Pipeline's lake sink writes, in
// lakeOrder.
func lakeDatasets(ls *engine.LakeSettings) []lake.Dataset {
	var out []lake.Dataset
	for _, d := range lakeOrder {
		if ls.Datasets[d] {
			out = append(out, d)
		}
	}
	return out
}

// lakeTargets are the targets of erasure in the lake (with ids) and of
// spec.lake on lake l. The erasure covers the archives of spec.lake too:
// an archive is a lake of its own under archivePrefix in the same store,
// and customers erased after their partitions were archived must go from
// there as well. now is the lake's clock.
func lakeTargets(l *lake.Lake, ls *engine.LakeSettings, ids []string, entries []lakeRetention, now func() time.Time) ([]retention.Target, error) {
	have := lakeDatasets(ls)
	var out []retention.Target
	if len(ids) > 0 {
		for _, d := range have {
			if lake.HasCustomers(d) {
				out = append(out, &retention.LakeErasure{Lake: l, Dataset: d, CustomerIDs: ids})
			}
		}
		seen := map[string]bool{}
		for _, e := range entries {
			prefix := archivePrefix(ls, e.spec.ArchivePrefix)
			if e.action != lake.ExpireArchive || seen[prefix] {
				continue
			}
			seen[prefix] = true
			arch := lake.New(l.Store(), lake.Options{Prefix: prefix, Now: now})
			for _, d := range have {
				if lake.HasCustomers(d) {
					out = append(out, &retention.LakeErasure{Lake: arch, Dataset: d, CustomerIDs: ids, Label: prefix + "/" + string(d)})
				}
			}
		}
	}
	for _, e := range entries {
		chosen, unmatched, err := retention.SelectDatasets(e.spec.Selector, have)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", e.field, err)
		}
		note := ""
		if len(unmatched) > 0 {
			note = fmt.Sprintf("%s.selector: %s matches no dataset the lake sink writes (%s)", e.field, strings.Join(unmatched, ", "), datasetList(have))
		}
		if len(chosen) == 0 {
			out = append(out, &unmatchedSelector{name: selectorString(e.spec.Selector), message: note})
			continue
		}
		for _, d := range chosen {
			out = append(out, &retention.LakeDataset{Lake: l, Dataset: d, ExpireAfter: e.expireAfter, Action: e.action,
				ArchivePrefix: archivePrefix(ls, e.spec.ArchivePrefix), KeepVersions: int(e.spec.KeepVersions), Note: note})
		}
	}
	return out, nil
}

// archivePrefix is where an S3 lake's partitions are archived: the
// lake's own prefix under spec.lake[].archivePrefix, so Pipelines sharing
// a bucket (each under its prefix) never write into each other's archive
// (manifest names would collide). A local lake's archive is archivePrefix
// under the lake's directory.
func archivePrefix(ls *engine.LakeSettings, prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if ls.S3 != nil {
		if p := strings.Trim(ls.S3.Prefix, "/"); p != "" {
			return prefix + "/" + p
		}
	}
	return prefix
}

func datasetList(ds []lake.Dataset) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// unmatchedSelector is a spec.lake entry that selects no dataset: it
// does nothing and says so.
type unmatchedSelector struct{ name, message string }

func (u *unmatchedSelector) Kind() v1alpha1.TargetKind { return v1alpha1.TargetLakeDataset }
func (u *unmatchedSelector) Name() string              { return u.name }
func (u *unmatchedSelector) Enforce(context.Context, *retention.Run) (retention.Outcome, error) {
	return retention.Outcome{Message: u.message}, nil
}
