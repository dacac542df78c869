// Package schedule parses the schedules of Segmentations and
// RetentionPolicies and computes their next run.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// parser accepts five-field cron expressions and descriptors (@hourly,
// @every 15m), the same dialect Kubernetes CronJobs use plus @every.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a schedule. allowEvery permits "@every <duration>", which a
// CronJob does not understand.
func Parse(s v1alpha1.Schedule, allowEvery bool) (cron.Schedule, error) {
	str := strings.TrimSpace(string(s))
	if strings.HasPrefix(str, "@every") && !allowEvery {
		return nil, fmt.Errorf("@every is not supported here; use a cron expression such as \"0 3 * * *\"")
	}
	if strings.HasPrefix(str, "TZ=") || strings.HasPrefix(str, "CRON_TZ=") {
		return nil, fmt.Errorf("time zones are not supported; schedules run in UTC")
	}
	sched, err := parser.Parse(str)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %v", str, err)
	}
	return sched, nil
}

// Next returns the first run of s strictly after t, in UTC.
func Next(s cron.Schedule, t time.Time) time.Time { return s.Next(t.UTC()) }
