package app_test

import (
	"testing"

	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/config"
)

// TestNoticeFooter: the footer of transactional mail names the controller with its postal
// address, the DPO (or, without one, the controller's privacy address) and the privacy notice;
// without a controller name there is none.
func TestNoticeFooter(t *testing.T) {
	full := config.Config{ControllerName: "Norrsken AB", ControllerStreet: "Storgatan 1", ControllerPostalCode: "903 26", ControllerCity: "Umeå",
		ControllerCountry: "SE", DPOEmail: "dpo@norrsken.example", ControllerEmail: "privacy@norrsken.example", BaseURL: "https://crm.norrsken.example/"}
	noDPO := full
	noDPO.DPOEmail = ""
	bare := config.Config{ControllerName: "Norrsken AB", ControllerCity: "Umeå"}
	for _, tc := range []struct {
		name   string
		s      config.Config
		footer string
		postal string
	}{
		{"full", full, "Norrsken AB, Storgatan 1, 903 26 Umeå, SE\nData protection officer: dpo@norrsken.example\nPrivacy notice: https://crm.norrsken.example/p/privacy",
			"Norrsken AB, Storgatan 1, 903 26 Umeå, SE"},
		{"no DPO", noDPO, "Norrsken AB, Storgatan 1, 903 26 Umeå, SE\nPrivacy questions: privacy@norrsken.example\nPrivacy notice: https://crm.norrsken.example/p/privacy",
			"Norrsken AB, Storgatan 1, 903 26 Umeå, SE"},
		{"name and city", bare, "Norrsken AB, Umeå", "Norrsken AB, Umeå"},
		{"no controller", config.Config{ControllerStreet: "Storgatan 1", DPOEmail: "dpo@norrsken.example"}, "", "Storgatan 1"},
	} {
		if got := app.NoticeFooter(tc.s); got != tc.footer {
			t.Errorf("%s: NoticeFooter = %q; want %q", tc.name, got, tc.footer)
		}
		if got := app.Postal(tc.s); got != tc.postal {
			t.Errorf("%s: Postal = %q; want %q", tc.name, got, tc.postal)
		}
	}
}
