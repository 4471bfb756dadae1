package cli_test

import (
	"encoding/json"
	"testing"

	"github.com/tillit/tillit/internal/cli"
)

// TestBenchDSR runs tillit bench export and erase on a small store and checks that each timed
// its whole sample with sane figures. It asserts no speed.
func TestBenchDSR(t *testing.T) {
	for _, scenario := range []string{"export", "erase"} {
		t.Run(scenario, func(t *testing.T) {
			code, out, stderr := runCLI(t, "bench", scenario, "--n", "300", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res cli.BenchResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if res.Scenario != scenario || res.N != 300 || res.Sample != 200 {
				t.Errorf("scenario %q, n %d, sample %d; want %q, 300, 200", res.Scenario, res.N, res.Sample, scenario)
			}
			if res.Seconds <= 0 || res.PerSecond <= 0 {
				t.Errorf("seconds %v, per second %v; want both > 0", res.Seconds, res.PerSecond)
			}
			if !(res.P50Micros > 0 && res.P50Micros <= res.P95Micros && res.P95Micros <= res.P99Micros && res.P99Micros <= res.MaxMicros) {
				t.Errorf("latencies p50 %v, p95 %v, p99 %v, max %v µs; want 0 < p50 <= p95 <= p99 <= max",
					res.P50Micros, res.P95Micros, res.P99Micros, res.MaxMicros)
			}
			// 200 calls one after another cannot take less than their slowest one, nor more in
			// total than 200 times it.
			if total := res.Seconds * 1e6; total < res.MaxMicros || total > 200*res.MaxMicros*1.01 {
				t.Errorf("seconds %v for 200 calls with max %v µs", res.Seconds, res.MaxMicros)
			}
			switch scenario {
			case "export":
				// A bundle holds the contact as JSON, CSV and vCard, three consent events and the
				// audit events: several KiB, well under a MiB.
				if res.BundleBytes < 2000 || res.BundleBytes > 1<<20 || res.CheckpointShare != 0 {
					t.Errorf("bundle_bytes %d, checkpoint_share %v; want an access bundle's size and no checkpoint", res.BundleBytes, res.CheckpointShare)
				}
			case "erase":
				// Every erasure ends with a checkpoint, which is part of its time.
				if !(res.CheckpointP50Micros > 0 && res.CheckpointP50Micros <= res.CheckpointP99Micros &&
					res.CheckpointP99Micros <= res.MaxMicros && res.CheckpointShare > 0 && res.CheckpointShare < 1) || res.BundleBytes != 0 {
					t.Errorf("checkpoint p50 %v, p99 %v µs, share %v, bundle_bytes %d; want 0 < p50 <= p99 <= the erasure's max %v, 0 < share < 1, no bundle",
						res.CheckpointP50Micros, res.CheckpointP99Micros, res.CheckpointShare, res.BundleBytes, res.MaxMicros)
				}
			}
		})
	}
}
