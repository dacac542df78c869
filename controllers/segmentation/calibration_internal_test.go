package segmentation

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// CalibrationExact follows the last run's count of customers whose summary
// at the calibration end was unknown, and exists only with a calibration
// end.
func TestMarkCalibration(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &v1alpha1.Segmentation{Spec: v1alpha1.SegmentationSpec{CalibrationEnd: &metav1.Time{Time: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)}}}
	for _, tc := range []struct {
		unknown int64
		status  metav1.ConditionStatus
		reason  string
		message string
	}{
		{0, metav1.ConditionTrue, v1alpha1.ReasonSummariesFrozen, "1997-09-30"},
		{684, metav1.ConditionFalse, v1alpha1.ReasonSummariesUnknown, "684 customers"},
	} {
		markCalibration(s, &RunReport{CalibrationUnknown: tc.unknown}, now)
		c := findCondition(s.Status.Conditions, v1alpha1.ConditionCalibrationExact)
		if c == nil || c.Status != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
			t.Fatalf("unknown %d: condition %+v, want %s/%s mentioning %q", tc.unknown, c, tc.status, tc.reason, tc.message)
		}
	}
	s.Spec.CalibrationEnd = nil
	markCalibration(s, &RunReport{}, now)
	if c := findCondition(s.Status.Conditions, v1alpha1.ConditionCalibrationExact); c != nil {
		t.Fatalf("condition %+v without a calibration end", c)
	}
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}
