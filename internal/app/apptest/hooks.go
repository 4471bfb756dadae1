package apptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tillit/tillit/internal/share"
)

// Hooks is a processor's webhook endpoint on loopback: it verifies each signature, keeps the
// events' kinds, and (unless made with ack false) acknowledges every erasure at the event's
// acknowledgement URL, signed.
type Hooks struct {
	URL    string // the endpoint to register as the processor's webhook_url
	Secret string // the signing secret to register as its webhook_secret
	mu     sync.Mutex
	kinds  []string
	bad    int
	held   chan struct{} // acknowledgements wait until it is closed (HoldAcks)
}

// HookReceiver starts a Hooks with the signing secret that runs until the test ends; with ack
// false it takes every event (2xx) and never acknowledges an erasure.
func HookReceiver(t testing.TB, secret string, ack bool) *Hooks {
	t.Helper()
	h := &Hooks{Secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !share.Verify([]byte(secret), r.Header.Get(share.SignatureHeader), body, time.Now(), 5*time.Minute) {
			h.mu.Lock()
			h.bad++
			h.mu.Unlock()
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev share.Event
		json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.kinds = append(h.kinds, ev.Kind)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		if ev.Kind == "erased" && ev.AckURL != "" && ack {
			h.mu.Lock()
			held := h.held
			h.mu.Unlock()
			go func() { // the processor erases, then confirms
				if held != nil {
					<-held
				}
				ack := []byte(`{"event_id":"` + ev.ID + `"}`)
				req, _ := http.NewRequest("POST", ev.AckURL, bytes.NewReader(ack))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(share.SignatureHeader, share.Sign([]byte(secret), time.Now(), ack))
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hook"
	return h
}

// HoldAcks makes the endpoint keep every acknowledgement of an erasure it receives from now on
// until release is called (a processor slow to erase), so that a test reads what Tillit says
// before one arrives, whatever the timing of the sender. Calls of release after the first do
// nothing.
func (h *Hooks) HoldAcks() (release func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.held = ch
	h.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// WaitFor waits until an event of kind has arrived. The deadline only keeps a broken sender from
// hanging the run; it asserts no speed.
func (h *Hooks) WaitFor(t testing.TB, kind string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		for _, k := range h.kinds {
			if k == kind {
				h.mu.Unlock()
				return
			}
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("no %s event reached the processor (got %v)", kind, h.kinds)
}

// BadSignatures counts the requests whose signature did not verify.
func (h *Hooks) BadSignatures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bad
}
