package importer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tillit/tillit/internal/app/apptest"
)

// TestImportDialects imports, as tillit import --format generic does, the CSV dialects the issue names,
// built in code, and checks what was stored.
func TestImportDialects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    []byte
		created int
		refused []int             // line numbers of refused rows
		check   map[string]string // e-mail → expected first name
	}{
		{
			name:    "semicolon, Windows-1252, CRLF",
			body:    []byte("E-Mail;Vorname;Nachname\r\nj\xfcrgen.m\xfcller@example.de;J\xfcrgen;M\xfcller\r\nsven@example.de;Sven;S\xf8rensen\r\n"),
			created: 2,
			check:   map[string]string{"jürgen.müller@example.de": "Jürgen", "SVEN@example.de": "Sven"},
		},
		{
			name:    "tab, UTF-8 with BOM, lone CR line endings",
			body:    []byte("\xef\xbb\xbfEmail\tFirst Name\rnoor@example.nl\tNoor\rpieter@example.nl\tPieter\r"),
			created: 2,
			check:   map[string]string{"noor@example.nl": "Noor", "pieter@example.nl": "Pieter"},
		},
		{
			name: "comma, newline inside a quoted cell, mixed endings, a bad row and an invalid address",
			body: []byte("email,first_name,notes\n" +
				"ana@example.pt,Ana,\"line one\r\nline two\"\r\n" + // lines 2-3
				"not-an-address,Rui,\n" + // line 4: invalid e-mail
				"bea@example.pt,Be\"a,x\n" + // line 5: bare quote
				"carla@example.pt,Carla,\n"), // line 6
			created: 2,
			refused: []int{4, 5},
			check:   map[string]string{"ana@example.pt": "Ana", "carla@example.pt": "Carla"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(t.TempDir(), "in.csv")
			if err := os.WriteFile(path, tc.body, 0o600); err != nil {
				t.Fatal(err)
			}
			rep := apptest.ImportDir(t, dir, map[string]string{"format": "generic"}, path)
			if rep.Created != tc.created || rep.Refused != len(tc.refused) {
				t.Fatalf("report %+v; want %d created, %d refused", rep, tc.created, len(tc.refused))
			}
			for i, line := range tc.refused {
				if rep.Errors[i].Line != line || rep.Errors[i].Reason == "" {
					t.Errorf("refusal %d = %+v; want line %d with a reason", i, rep.Errors[i], line)
				}
			}
			p := apptest.Serve(t, apptest.Dir(dir))
			for email, first := range tc.check {
				var l apptest.List
				if st := p.Do("POST", "/api/v1/contacts/lookup", map[string]string{"email": email}, &l); st != 200 || len(l.Items) != 1 || l.Items[0].FirstName != first {
					t.Errorf("lookup %s: %d %+v; want first name %s", email, st, l.Items, first)
				}
			}
			var all apptest.List
			p.Do("GET", "/api/v1/contacts", nil, &all)
			if len(all.Items) != tc.created {
				t.Errorf("%d contacts stored; want %d (a refused row leaves nothing)", len(all.Items), tc.created)
			}
		})
	}
}
