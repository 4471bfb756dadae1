package personal_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tillit/tillit/internal/personal"
)

// id is the shape of a holding id.
var id = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// TestEveryHoldingSaysWhatItIsWhereItGoesAndWhatErasureDoes fails on a holding without a unique
// id, without plain words for the receipt, without a bundle file or a reason it is not
// exported, or kept by erasure without its exemption and GDPR article.
func TestEveryHoldingSaysWhatItIsWhereItGoesAndWhatErasureDoes(t *testing.T) {
	hs := personal.Holdings()
	if len(hs) == 0 {
		t.Fatal("the register is empty")
	}
	seen := map[string]bool{}
	for _, h := range hs {
		if !id.MatchString(h.ID) || seen[h.ID] {
			t.Errorf("holding id %q: want a unique lower-case id with underscores", h.ID)
		}
		seen[h.ID] = true
		if h.What == "" || strings.Contains(h.What, "_") {
			t.Errorf("%s: receipt words %q; want what it holds in plain words, no table or column name", h.ID, h.What)
		}
		switch {
		case len(h.Files) == 0 && h.NotExported == "":
			t.Errorf("%s names no bundle file and no reason it is not exported", h.ID)
		case len(h.Files) > 0 && h.NotExported != "":
			t.Errorf("%s is exported to %v and says it is not: %q", h.ID, h.Files, h.NotExported)
		}
		if h.Deletes() {
			if h.Erasure() != personal.Deleted || h.Article != "" {
				t.Errorf("%s: deleted by erasure, yet Erasure %q, Article %q", h.ID, h.Erasure(), h.Article)
			}
			continue
		}
		if !strings.HasPrefix(h.Article, "Art. ") {
			t.Errorf("%s: kept by erasure under article %q; want the GDPR article of its exemption", h.ID, h.Article)
		}
		// Where the exemption names its article, it names this one.
		if strings.Contains(h.Kept, "GDPR Art.") && !strings.Contains(h.Kept, "GDPR "+h.Article) {
			t.Errorf("%s: kept %q names another article than %q", h.ID, h.Kept, h.Article)
		}
		if got := h.Erasure(); got != "kept: "+h.Kept {
			t.Errorf("%s: Erasure = %q; want kept: and the exemption", h.ID, got)
		}
	}
}

func TestFind(t *testing.T) {
	h, ok := personal.Find(personal.Suppressions)
	if !ok || h.ID != personal.Suppressions || h.Deletes() || !h.ByAddress {
		t.Errorf("Find(suppressions) = %+v, %v; want the kept suppression list, found by address", h, ok)
	}
	if _, ok := personal.Find("no_such_holding"); ok {
		t.Error("Find found a holding the register does not have")
	}
}
