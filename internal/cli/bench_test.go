package cli

import (
	"context"
	"testing"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/app/apptest"
)

// BenchmarkImport imports b.N generated Mailchimp rows through the same path as tillit import:
// go test -bench Import -run XXX ./internal/cli
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	a := apptest.New(b)
	opt, _ := api.ImportOptions(map[string]string{"format": "mailchimp", "name": "bench"})
	b.ResetTimer()
	rep, err := a.Importer.Import(ctx, &genRows{n: b.N}, opt)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Created != b.N {
		b.Fatalf("created %d; want %d", rep.Created, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "contacts/s")
}

// BenchmarkLookup times audited lookups by e-mail among 10,000 contacts.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	a := apptest.New(b)
	const n = 10000
	opt, _ := api.ImportOptions(map[string]string{"format": "mailchimp", "name": "bench"})
	if _, err := a.Importer.Import(ctx, &genRows{n: n}, opt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := a.Contacts.FindByEmail(ctx, benchEmail(i%n)); err != nil {
			b.Fatal(err)
		}
	}
}
