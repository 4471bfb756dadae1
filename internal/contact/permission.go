package contact

import (
	"context"
	"fmt"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/token"
)

// The fine permission rules of this package. Each is read from the actor in the context
// (token.Permits) inside the transaction that does the work, so every caller (the API, the
// console, internal/dsr, jobs) meets the same rule; the API's route table checks only the coarse
// permission of a route (contacts.write, contacts.erase).

// MayRecreateErased refuses, unless the actor may erase (token.ContactsErase: admin, dpo; Tillit
// itself and local commands), staff's request to use again an address erased at its person's
// request (CreateByStaff, UpdateByStaff with recreateErased): only on that person's own new
// request (GDPR Art. 17), which is a decision of the roles that erase. Forbidden, field
// recreate_erased (the API's query parameter), reason role_forbidden.
func MayRecreateErased(ctx context.Context) error {
	if role, ok := token.Permits(ctx, token.ContactsErase); !ok {
		return &apperr.Error{Kind: apperr.Forbidden, Field: "recreate_erased", Reason: "role_forbidden",
			Message: "recreate_erased: the " + string(role) + " role may not use an erased address again (needs contacts.erase)"}
	}
	return nil
}

// CheckRectify is the rule for correcting rec through a data subject request (Rectify): a
// restricted contact (GDPR Art. 18) changes only through requests, and one agent alone should
// not be that path, so correcting one needs token.ContactsRestrict (admin, dpo; Tillit itself
// and local commands). Forbidden, reason role_forbidden, naming the permission; nil for a
// contact that is not restricted. Rectify applies it inside its transaction; internal/dsr also
// applies it when a completion starts, so a refused completion changes nothing.
func CheckRectify(ctx context.Context, rec *Record) error {
	if !rec.Restricted {
		return nil
	}
	if role, ok := token.Permits(ctx, token.ContactsRestrict); !ok {
		return &apperr.Error{Kind: apperr.Forbidden, Reason: "role_forbidden",
			Message: fmt.Sprintf("the %s role may not correct a restricted contact (GDPR Art. 18; needs %s)", role, token.ContactsRestrict)}
	}
	return nil
}
