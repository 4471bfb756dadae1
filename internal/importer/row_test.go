package importer

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitTags(t *testing.T) {
	tests := []struct {
		in, seps string
		want     []string
	}{
		{`"Editors","Lorem Editors"`, ",", []string{"Editors", "Lorem Editors"}},
		{`"Lorem Editors"`, ",", []string{"Lorem Editors"}},
		{`Editors`, ",", []string{"Editors"}},
		{``, ",", nil},
		{` , ,"" `, ",", nil},
		{` "Dolor" , Simet `, ",", []string{"Dolor", "Simet"}},
		{`"A, B",C`, ",", []string{"A, B", "C"}},
		{`"Say ""hi"""`, ",", []string{`Say "hi"`}},
		{`A,A, A ,"A"`, ",", []string{"A"}},
		{`"open, tag`, ",", []string{"open, tag"}},
		{`a;b`, ",", []string{"a;b"}},
		{`a; b,c;;"d;e"`, ",;", []string{"a", "b", "c", "d;e"}},
		{"\u00a0Kunde\u00a0", ",", []string{"Kunde"}},
	}
	for _, tt := range tests {
		if got := splitTags(tt.in, tt.seps); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitTags(%q, %q) = %q, want %q", tt.in, tt.seps, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{" Dolor ", "Dolor"},
		{"\u00a0Lorem Co.\u00a0", "Lorem Co."},
		{"\ufeff\u200b a b \t\n", "a b"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"E-Mail", "e mail"},
		{" email_ADDRESS ", "email address"},
		{"Zip  Code", "zip code"},
	}
	for _, tt := range tests {
		if got := headerKey(tt.in); got != tt.want {
			t.Errorf("headerKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Found by a fresh-user trial: CONFIRM_IP / OPTIN_IP values that are no address were stored as
// double-opt-in evidence.
func TestIPsAreChecked(t *testing.T) {
	for _, tt := range []struct {
		format string
		new    func(h []string) (Mapper, error)
		header string
	}{
		{"mailchimp", func(h []string) (Mapper, error) { return NewMailchimpMapper(h, StatusNone) },
			"Email Address,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LAST_CHANGED"},
		{"generic", func(h []string) (Mapper, error) { return NewGenericMapper(h, nil) },
			"Email,Status,OPTIN_IP,Confirm Time,CONFIRM_IP,Optin Time"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			h := strings.Split(tt.header, ",")
			mk := func(email, optinIP, confirmIP string) string {
				c := []string{email, "2020-01-01 00:00:00", optinIP, "2020-01-01 00:00:00", confirmIP, ""}
				if tt.format == "generic" {
					c[1] = "subscribed"
				}
				return strings.Join(c, ",")
			}
			in := tt.header + "\n" + strings.Join([]string{
				mk("a@example.com", "192.0.2.1", "2001:DB8::1"),
				mk("b@example.com", "", "999.1.1.1"),
				mk("c@example.com", `"hello world"`, ""),
				mk("d@example.com", "", "=cmd|calc"),
				mk("e@example.com", "fe80::1%eth0", ""),
			}, "\n") + "\n"
			rows, errs := mapAll(t, strings.NewReader(in), tt.new)
			if len(rows) != 1 || rows[0].OptinIP != "192.0.2.1" || rows[0].ConfirmIP != "2001:db8::1" {
				t.Fatalf("rows = %+v, errors %v; want a's row with its IPs (canonical)", rows, errs)
			}
			want := map[int]string{
				3: h[4] + ": not an IPv4 or IPv6 address",
				4: h[2] + ": not an IPv4 or IPv6 address",
				5: h[4] + ": not an IPv4 or IPv6 address",
				6: h[2] + ": not an IPv4 or IPv6 address",
			}
			if !reflect.DeepEqual(errs, want) {
				t.Errorf("errors = %v, want %v", errs, want)
			}
		})
	}
}
