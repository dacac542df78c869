package metrics_test

import (
	"testing"

	"github.com/ecap-dev/ecap/controllers/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.RunMain(m, &env) }
