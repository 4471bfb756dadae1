package config_test

import (
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/config"
)

// TestRootKeySetting: TILLIT_ROOT_KEY names a key in a token instead of the root key file (no
// default file then); it takes a pkcs11: URI only, not beside TILLIT_ROOT_KEY_FILE, and String
// prints which token and key, never the module query with the PIN.
func TestRootKeySetting(t *testing.T) {
	const uri = "pkcs11:token=tillit;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=s3cret"
	finish := func(env map[string]string) (config.Config, error) {
		c := config.Default()
		if err := c.FromEnv(func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		return c, c.Finish()
	}
	c, err := finish(map[string]string{"TILLIT_DATA": "/d", "TILLIT_ROOT_KEY": uri})
	if err != nil {
		t.Fatal(err)
	}
	if c.RootKey != uri || c.RootKeyFile != "" {
		t.Errorf("RootKey %q, RootKeyFile %q; want the URI and no file", c.RootKey, c.RootKeyFile)
	}
	if s := c.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "root_key=pkcs11:token=tillit;object=root ") {
		t.Errorf("String() = %q; want root_key=pkcs11:token=tillit;object=root and no PIN", s)
	}
	c, err = finish(map[string]string{"TILLIT_DATA": "/d"})
	if err != nil || !strings.Contains(c.String(), "root_key=file /d/root.key ") {
		t.Errorf("String() = %q, %v; want root_key=file /d/root.key", c.String(), err)
	}
	c, err = finish(map[string]string{"TILLIT_DATA": "/d", "TILLIT_ROOT_KEY_FILE": "/etc/tillit/root.key"})
	if err != nil || c.RootKeyFile != "/etc/tillit/root.key" {
		t.Errorf("RootKeyFile = %q, %v; want TILLIT_ROOT_KEY_FILE's", c.RootKeyFile, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TILLIT_ROOT_KEY": uri, "TILLIT_ROOT_KEY_FILE": "/k"}, "TILLIT_ROOT_KEY and TILLIT_ROOT_KEY_FILE are both set"},
		{map[string]string{"TILLIT_ROOT_KEY": "/etc/tillit/root.key"}, "TILLIT_ROOT_KEY: want a pkcs11: URI"},
		{map[string]string{"TILLIT_ROOT_KEY": "aws-kms://arn:aws:kms:eu-north-1:1:key/s3cret"}, "TILLIT_ROOT_KEY: want a pkcs11: URI"},
	} {
		_, err := finish(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Finish with %v = %v; want an error with %q and no secret", tc.env, err, tc.want)
		}
	}
}

func TestRedactKeyURI(t *testing.T) {
	for in, want := range map[string]string{
		"pkcs11:token=t;object=o?module-path=/m.so&pin-value=s3cret": "pkcs11:token=t;object=o",
		"pkcs11:token=t;pin-value=s3cret;object=o":                   "pkcs11:token=t;pin-value=xxxxx;object=o",
		"pkcs11:pin-value=s3cret":                                    "pkcs11:pin-value=xxxxx",
	} {
		if got := config.RedactKeyURI(in); got != want {
			t.Errorf("RedactKeyURI(%s) = %s; want %s", want, got, want)
		}
	}
}
