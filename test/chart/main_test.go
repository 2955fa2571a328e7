package chart_test

import (
	"os"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// chartDir is the chart under test.
const chartDir = "../../charts/aws-secrets-injector"

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}
