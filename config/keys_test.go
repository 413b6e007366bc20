package config_test

import (
	"testing"

	"floe/appmaster"
	"floe/checkpoint"
	"floe/config"
	"floe/datastream"
)

// The registry knows the keys other packages read.
func TestRegistryHasOtherPackagesKeys(t *testing.T) {
	for _, k := range []string{datastream.RuntimeModeKey, datastream.AutoWatermarkInterval, appmaster.KeySavepointPath, appmaster.KeyAllowNonRestored,
		checkpoint.KeyInterval, checkpoint.KeyMode, checkpoint.KeyTimeout, checkpoint.KeyMinPause, checkpoint.KeyMaxConcurrent,
		checkpoint.KeyTolerableFailures, checkpoint.KeyDir, checkpoint.KeySavepointDir, checkpoint.KeyNumRetained, checkpoint.KeyRetention,
		checkpoint.KeyUnaligned, checkpoint.KeyAlignedTimeout} {
		if !config.Known(k) {
			t.Errorf("%s is not in the registry", k)
		}
	}
}
