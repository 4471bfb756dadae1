package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/share"
	"github.com/tillit/tillit/internal/token"
)

// kindWords names a notification task's change as staff tell it to the recipient.
var kindWords = map[string]string{"erased": "erasure (Art. 17)", "restricted": "restriction (Art. 18)", "rectified": "correction (Art. 16)"}

// causeWords says why no webhook told the recipient.
var causeWords = map[string]string{share.CauseNoWebhook: "no webhook", share.CauseWebhookFailed: "its webhook gave up"}

// taskRow is one notification task as the page shows it.
type taskRow struct {
	share.NotificationTask
	Created, Change, Why, Done string
}

type notificationsView struct {
	page
	Views   []option
	Open    bool // the open queue, with a form per task
	CanMark bool // the role may mark tasks done (processors.write)
	Items   []taskRow
	Next    string
}

// notifications serves GET /console/notifications: the recipients to tell by hand of a
// correction, an erasure or a restriction (GDPR Art. 19), oldest first; ?view=done lists those
// told, with the note; ?cursor= pages.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) {
	ctx, role, ok := s.staff(w, r, token.RequestsRead)
	if !ok {
		return
	}
	s.showNotifications(w, r, ctx, role, http.StatusOK, "")
}

func (s *Server) showNotifications(w http.ResponseWriter, r *http.Request, ctx context.Context, role token.Role, status int, msg string) {
	if s.Notifications == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	f := share.TaskFilter{State: share.TaskOpen, After: q.Get("cursor"), Limit: 100}
	if q.Get("view") == "done" {
		f.State = share.TaskDone
	}
	v := notificationsView{page: page{Title: "Recipients to tell", Role: string(role), Error: msg}, Open: f.State == share.TaskOpen,
		CanMark: token.Allows(role, token.ProcessorsWrite),
		Views:   []option{{Value: "open", Label: "To tell", Selected: f.State == share.TaskOpen}, {Value: "done", Label: "Told", Selected: f.State == share.TaskDone}}}
	items, next, err := s.Notifications.Tasks(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, t := range items {
		row := taskRow{NotificationTask: t, Created: t.CreatedAt.UTC().Format("2006-01-02 15:04"), Change: kindWords[t.Kind], Why: causeWords[t.Cause]}
		if t.DoneAt != nil {
			row.Done = t.DoneAt.UTC().Format("2006-01-02 15:04")
		}
		v.Items = append(v.Items, row)
	}
	if next != "" {
		q.Set("cursor", next)
		v.Next = "/console/notifications?" + q.Encode()
	}
	s.render(w, r, status, "notifications.html", v)
}

// notificationDone serves POST /console/notifications/{id}/done: the note says how and when the
// recipient was told (share.Webhooks.TaskDone). After success it shows the queue by a redirect;
// a refused note is shown with the reason, which names the field.
func (s *Server) notificationDone(w http.ResponseWriter, r *http.Request) {
	ctx, role, ok := s.staff(w, r, token.ProcessorsWrite)
	if !ok {
		return
	}
	if s.Notifications == nil {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	_, err := s.Notifications.TaskDone(ctx, strings.ToLower(r.PathValue("id")), r.PostForm.Get("note"))
	if err == nil {
		http.Redirect(w, r, "/console/notifications", http.StatusSeeOther)
		return
	}
	e := apperr.As(err)
	switch {
	case e == nil || e.Kind == apperr.Internal:
		s.fail(w, r, err)
	case e.Kind == apperr.NotFound:
		http.NotFound(w, r)
	case e.Kind == apperr.Conflict:
		s.showNotifications(w, r, ctx, role, http.StatusConflict, e.Message)
	default:
		s.showNotifications(w, r, ctx, role, http.StatusBadRequest, e.Message)
	}
}
