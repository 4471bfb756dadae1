package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/governance"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/store"
)

// NoticeFooter names the controller and its data protection officer under every transactional
// message (GDPR Art. 12(1), 13(1)(a)-(b)), from the settings: one line of postal address, one
// of the DPO's address (or the controller's privacy address) and one of the privacy notice's
// URL. "" when no controller name is set.
func NoticeFooter(s config.Config) string {
	if s.ControllerName == "" {
		return ""
	}
	lines := []string{Postal(s)}
	if s.DPOEmail != "" {
		lines = append(lines, "Data protection officer: "+s.DPOEmail)
	} else if s.ControllerEmail != "" {
		lines = append(lines, "Privacy questions: "+s.ControllerEmail)
	}
	if s.BaseURL != "" {
		lines = append(lines, "Privacy notice: "+strings.TrimSuffix(s.BaseURL, "/")+"/p/privacy")
	}
	return strings.Join(lines, "\n")
}

// Postal is the controller's name and postal address on one line, comma-separated, empty parts
// left out ("Tillit AB, Storgatan 1, 903 26 Umeå, SE"); marketing mail carries it.
func Postal(s config.Config) string {
	return strings.Join(nonEmpty(s.ControllerName, s.ControllerStreet, strings.TrimSpace(s.ControllerPostalCode+" "+s.ControllerCity), s.ControllerCountry), ", ")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// transferWords says, for a processor outside the EEA, under which transfer mechanism its data
// goes (GDPR Art. 44-47), by share.Processor.TransferMechanism.
var transferWords = map[string]string{
	"adequacy": "under an adequacy decision (GDPR Art. 45)",
	"scc":      "under standard contractual clauses (GDPR Art. 46(2)(c))",
	"bcr":      "under binding corporate rules (GDPR Art. 47)",
	"none":     "no data is sent to it without a transfer mechanism",
}

// Recipients lists the recipients the privacy notice names (GDPR Art. 13(1)(e)-(f)): one line
// per processor whose engagement has not ended, "Name (role, country): purpose, purpose", with
// the transfer mechanism of one outside the EEA. On a read error it returns the lines read so
// far with the error.
func (a *App) Recipients(ctx context.Context) ([]string, error) {
	ps, err := a.Share.List(ctx)
	var out []string
	for _, p := range ps {
		if p.EndedAt != nil {
			continue
		}
		line := fmt.Sprintf("%s (%s, %s)", p.Name, strings.ReplaceAll(string(p.Role), "_", "-"), p.Country)
		if !share.InEEA(p.Country) {
			line += ", outside the EEA: " + transferWords[p.TransferMechanism]
		}
		out = append(out, line+": "+strings.Join(p.Purposes, ", "))
	}
	return out, err
}

// ROPA is the record of processing activities (GDPR Art. 30(1)) as of now: the controller, every
// purpose, every processor and every retention policy (governance.Build).
func (a *App) ROPA(ctx context.Context) (governance.ROPA, error) {
	purposes, err := a.Consent.Purposes(ctx)
	if err != nil {
		return governance.ROPA{}, err
	}
	processors, err := a.Share.List(ctx)
	if err != nil {
		return governance.ROPA{}, err
	}
	policies, err := a.Retention.Policies(ctx)
	if err != nil {
		return governance.ROPA{}, err
	}
	return governance.Build(a.Controller, purposes, processors, policies, store.ErasureMeasure(a.Store), a.now()), nil
}
