package testenv

import (
	"go.uber.org/zap/zapcore"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

type zapLevelType = zapcore.Level

// ctrlConfig lets several suites in one process register controllers with
// the same names.
func ctrlConfig() config.Controller {
	return config.Controller{SkipNameValidation: ptr.To(true)}
}
