package config_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/config"
)

// TestStringHidesSSLKeyPassword: pgx takes the passphrase of an encrypted client key as the
// URL parameter sslpassword (pgconn.ParseConfig); like password, it is a secret and must not
// reach the start-up log line, which prints it as given.
func TestStringHidesSSLKeyPassword(t *testing.T) {
	c := config.Default()
	c.DatabaseURL = "postgres://tillit@db.example/tillit?sslmode=verify-full&sslcert=/etc/t.crt&sslkey=/etc/t.key&sslpassword=k3ypass&schema=crm"
	if s := c.String(); strings.Contains(s, "k3ypass") {
		t.Errorf("String() = %q; want the client key's passphrase (sslpassword) hidden", s)
	}
}
