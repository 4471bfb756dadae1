package postgres

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/store/sqlstore"
)

// conflictKeys names the primary key of each table the shared SQL writes with INSERT OR REPLACE,
// which PostgreSQL spells INSERT … ON CONFLICT (key) DO UPDATE.
var conflictKeys = map[string]string{
	"consent_current": "contact_id, purpose_id",
	"objections":      "contact_id, scope",
}

// fragments are SQLite functions the shared SQL uses, with their PostgreSQL equivalents.
var fragments = strings.NewReplacer(
	"json_each(?)", "json_array_elements_text(CAST(? AS json))",
	"CAST(json_extract(policy_versions, ?) AS INTEGER)", "CAST(jsonb_path_query_first(CAST(policy_versions AS jsonb), CAST(? AS jsonpath)) #>> '{}' AS BIGINT)",
	"group_concat(", "string_agg(",
	"char(31)", "chr(31)",
	"max(max(", "max(greatest(",
	"AS INTEGER)", "AS BIGINT)",
)

var (
	insertOr    = regexp.MustCompile(`^(\s*)INSERT OR (IGNORE|REPLACE) INTO ([a-z_.]+) \(([^)]*)\)`)
	schemaNames = regexp.MustCompile(`\b(keystore|main)\.`)
)

// dialect returns PostgreSQL's dialect for an installation whose data tables live in schema data
// and whose key store lives in schema keys.
func dialect(data, keys string) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:         "postgres",
		Rewrite:      func(q string) string { return rewrite(q, data, keys) },
		Translate:    translate,
		IsConstraint: isConstraint,
		IntBools:     true,
		Savepoints:   true,
	}
}

// rewrite turns a statement of the shared SQL (SQLite's syntax) into PostgreSQL's: the schemas
// by name, INSERT OR IGNORE/REPLACE as ON CONFLICT, SQLite's functions, and ? as $1, $2, ….
func rewrite(q, data, keys string) string {
	suffix := ""
	if m := insertOr.FindStringSubmatch(q); m != nil {
		table := strings.TrimPrefix(strings.TrimPrefix(m[3], "main."), "keystore.")
		q = m[1] + "INSERT INTO " + m[3] + " (" + m[4] + ")" + q[len(m[0]):]
		if m[2] == "IGNORE" {
			suffix = " ON CONFLICT DO NOTHING"
		} else {
			suffix = " ON CONFLICT (" + conflictKeys[table] + ") DO UPDATE SET " + updateAll(m[4], conflictKeys[table])
		}
	}
	q = fragments.Replace(q) + suffix
	q = schemaNames.ReplaceAllStringFunc(q, func(s string) string {
		if s == "keystore." {
			return quoteIdent(keys) + "."
		}
		return quoteIdent(data) + "."
	})
	return numberPlaceholders(q)
}

// updateAll is "c = excluded.c, …" for every column of cols not in key.
func updateAll(cols, key string) string {
	skip := map[string]bool{}
	for _, k := range strings.Split(key, ",") {
		skip[strings.TrimSpace(k)] = true
	}
	var set []string
	for _, c := range strings.Split(cols, ",") {
		if c = strings.TrimSpace(c); !skip[c] {
			set = append(set, c+" = excluded."+c)
		}
	}
	return strings.Join(set, ", ")
}

// numberPlaceholders replaces each ? outside quoted text with $1, $2, … in order, and each ?NNN
// with $NNN. (A statement mixes the two forms nowhere in the shared SQL.)
func numberPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	quote := byte(0)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 { // ?NNN: SQLite's numbered parameter, the same in every place it appears
				b.WriteString("$" + q[i+1:j])
				i = j - 1
				continue
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// translate maps PostgreSQL errors to apperr kinds by SQLSTATE, never by message text.
func translate(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return &apperr.Error{Kind: apperr.Conflict, Reason: "duplicate", Message: "already exists", Err: err}
	case "40001", "40P01", "55P03", "57014": // serialization_failure, deadlock, lock_not_available, query_canceled
		return &apperr.Error{Kind: apperr.Unavailable, Message: "database busy", Err: err}
	case "22021", "22P05": // character_not_in_repertoire (bytes not UTF-8, or U+0000), untranslatable_character
		// Text from a client that no check before the store refused (the API refuses it in
		// bodies, path parameters and query values): a client error, never a 500.
		return &apperr.Error{Kind: apperr.Invalid, Reason: "invalid_text", Message: "text that is not valid UTF-8 or holds U+0000", Err: err}
	}
	return err
}

// translateRest translates, at the end of a transaction, an error that no statement translated
// and that carries no kind yet: a query's error surfaces in sql.Row.Scan or sql.Rows.Err, which
// the shared SQL layer wraps without translating. An error with a kind keeps it (a caller's own
// reason, such as duplicate_email, must not become the generic one).
func translateRest(err error) error {
	if err == nil || apperr.As(err) != nil {
		return err
	}
	return translate(err)
}

// isConstraint reports an integrity constraint violation (SQLSTATE class 23).
func isConstraint(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23")
}
