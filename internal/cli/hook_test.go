package cli_test

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

// hookReceiver is a processor's webhook endpoint on loopback: it verifies each signature, keeps
// the events, and acknowledges every erasure at the event's acknowledgement URL, signed.
type hookReceiver struct {
	url, secret string
	mu          sync.Mutex
	kinds       []string
	bad         int
}

func startHookReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	h := &hookReceiver{secret: secret}
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
		if ev.Kind == "erased" && ev.AckURL != "" {
			go func() { // the processor erases, then confirms
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
	h.url = srv.URL + "/hook"
	return h
}

// waitFor waits until an event of kind has arrived. The deadline only keeps a broken sender from
// hanging the run; it asserts no speed.
func (h *hookReceiver) waitFor(t *testing.T, kind string) {
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
	t.Fatalf("no %s event reached the processor (got %v)", kind, h.kinds)
}

func (h *hookReceiver) badSignatures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bad
}
