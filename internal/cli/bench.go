package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/tillit/tillit/internal/api"
	"github.com/tillit/tillit/internal/app"
	"github.com/tillit/tillit/internal/apperr"
	"github.com/tillit/tillit/internal/audit"
	"github.com/tillit/tillit/internal/campaign"
	"github.com/tillit/tillit/internal/config"
	"github.com/tillit/tillit/internal/consent"
	"github.com/tillit/tillit/internal/contact"
	"github.com/tillit/tillit/internal/mail"
	"github.com/tillit/tillit/internal/store"
	"github.com/tillit/tillit/internal/token"
)

// BenchResult is what tillit bench prints with --json.
type BenchResult struct {
	Scenario   string      `json:"scenario"`
	N          int         `json:"n"`          // contacts imported or present
	Seconds    float64     `json:"seconds"`    // wall time of the measured phase
	PerSecond  float64     `json:"per_second"` // contacts/s (import), lookups/s (lookup), bundles/s (export), erasures/s (erase)
	P50Micros  float64     `json:"p50_us"`     // per batch of 500 rows (import), per lookup, per person (export, erase)
	P99Micros  float64     `json:"p99_us"`
	PeakRSSMiB float64     `json:"peak_rss_mib"`   // VmHWM of this process
	Disk       string      `json:"disk,omitempty"` // SQLite files: "encrypted" or "plain" (--disk)
	GoVersion  string      `json:"go_version"`
	CPUs       int         `json:"cpus"`
	Lookups    int         `json:"lookups,omitempty"` // lookups or checks timed
	HTTP       *HTTPResult `json:"http,omitempty"`
	// Export and erase: the contacts exported or erased, one call each, and the tail of their latency.
	Sample      int     `json:"sample,omitempty"`
	P95Micros   float64 `json:"p95_us,omitempty"`
	MaxMicros   float64 `json:"max_us,omitempty"`
	BundleBytes int     `json:"bundle_bytes,omitempty"` // mean size of an access bundle's zip (export)
	// Erase: the WAL checkpoint that ends each erasure, and its share of the measured time (0 to 1).
	CheckpointP50Micros float64 `json:"checkpoint_p50_us,omitempty"`
	CheckpointP99Micros float64 `json:"checkpoint_p99_us,omitempty"`
	CheckpointShare     float64 `json:"checkpoint_share,omitempty"`
	// Send: SMTP connections handing over at once; the audience walk (time and contacts/s); the
	// floor (bare messages to the same sink on as many connections, per second) and PerSecond's
	// share of it (0 to 1).
	Sessions       int     `json:"sessions,omitempty"`
	WalkSeconds    float64 `json:"walk_seconds,omitempty"`
	WalkPerSecond  float64 `json:"walk_per_second,omitempty"`
	FloorPerSecond float64 `json:"floor_per_second,omitempty"`
	FloorRatio     float64 `json:"floor_ratio,omitempty"`
}

func bench(ctx context.Context, env Env, args []string) (err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: tillit bench import|lookup|consent-check|send|export|erase|hostile [--n N] [--json]", errUsage)
	}
	scenario := args[0]
	var n, lookups, sessions int
	var asJSON bool
	var cpuProfile, memProfile, disk string
	cfg, _, err := parse(env, "bench "+scenario, args[1:], func(fs *flag.FlagSet, c *config.Config) {
		c.Flags(fs)
		fs.IntVar(&n, "n", 100000, "number of contacts")
		fs.IntVar(&lookups, "lookups", 20000, "lookup: number of lookups to time (consent-check: ten times as many checks in process, as many over HTTP)")
		fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		fs.IntVar(&sessions, "sessions", mail.DefaultSessions, "send: SMTP connections handing messages over at once (TILLIT_SMTP_URL ?sessions=N)")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
		fs.StringVar(&disk, "disk", "encrypted", "the new store's SQLite files: encrypted (as tillit makes them) or plain (what the encryption costs is the difference)")
		fs.StringVar(&memProfile, "memprofile", "", "write a heap profile at the end of the run to this file (go tool pprof; -sample_index=alloc_space for what was allocated over the run)")
	})
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("%w: --n must be positive", errUsage)
	}
	if disk != "encrypted" && disk != "plain" {
		return fmt.Errorf("%w: --disk must be encrypted or plain", errUsage)
	}
	if scenario == "hostile" {
		// Each hostile load runs against its own child server and data directory.
		return benchHostile(ctx, env, asJSON)
	}
	// A bench never touches a real data directory unless --data is given explicitly.
	if !slices.ContainsFunc(args, func(a string) bool { return a == "--data" || a == "-data" || strings.HasPrefix(a, "--data=") }) {
		dir, err := os.MkdirTemp("", "tillit-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
		cfg.RootKeyFile, cfg.RootKey = "", ""
		if err := cfg.Finish(); err != nil {
			return err
		}
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, ID: "bench"})
	o := opening{create: true, logger: slog.New(slog.DiscardHandler), plainDisk: disk == "plain"}
	var sink *smtpSink
	if scenario == "send" {
		if sink, err = startSink(sessions); err != nil {
			return err
		}
		defer sink.close()
		o.transport = sink.transport
		// The campaign's footer carries a postal address, as it must in real mail.
		cfg.ControllerName, cfg.ControllerStreet, cfg.ControllerCity = "Bench AB", "Storgatan 1", "Umeå"
		cfg.BaseURL = "http://bench.example"
	}
	// On a database server the store is not in the data directory: what of it the bench made
	// (PostgreSQL: the schemas that were not there) is removed when it ends, after the store
	// closed, and whatever was there already is kept.
	remove, err := store.Scratch(ctx, cfg.StoreURL())
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := remove(rctx); rerr != nil && err == nil {
			err = fmt.Errorf("bench: remove the store it made: %w", rerr)
		}
	}()
	a, err := openAppWith(ctx, env, cfg, o)
	if err != nil {
		return err
	}
	defer a.Close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var res BenchResult
	switch scenario {
	case "import":
		res, err = benchImport(ctx, a, n)
	case "lookup":
		res, err = benchLookup(ctx, env, a, n, lookups)
	case "consent-check":
		res, err = benchConsentCheck(ctx, a, n, lookups*10)
	case "send":
		res, err = benchSend(ctx, a, n, sink)
	case "export":
		res, err = benchExport(ctx, env, a, n)
	case "erase":
		res, err = benchErase(ctx, env, a, n)
	default:
		return fmt.Errorf("%w: unknown scenario %q (import, lookup, consent-check, send, export, erase, hostile)", errUsage, scenario)
	}
	if err != nil {
		return err
	}
	res.GoVersion, res.CPUs, res.PeakRSSMiB = runtime.Version(), runtime.NumCPU(), peakRSSMiB()
	if strings.HasPrefix(cfg.StoreURL(), "sqlite:") {
		res.Disk = disk
	}
	if memProfile != "" {
		if err := writeHeapProfile(memProfile); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(env.Stdout, "%s: n=%d %.0f/s p50=%.0fµs p99=%.0fµs peak RSS %.0f MiB (%.1fs)%s\n",
		res.Scenario, res.N, res.PerSecond, res.P50Micros, res.P99Micros, res.PeakRSSMiB, res.Seconds, map[string]string{"plain": ", plain files"}[res.Disk])
	if res.Sample > 0 {
		fmt.Fprintf(env.Stdout, "  per person (%d): p50=%.1fms p95=%.1fms p99=%.1fms max=%.1fms\n", res.Sample, res.P50Micros/1e3, res.P95Micros/1e3, res.P99Micros/1e3, res.MaxMicros/1e3)
	}
	if res.CheckpointShare > 0 {
		fmt.Fprintf(env.Stdout, "  WAL checkpoint: p50=%.1fms p99=%.1fms, %.0f%% of the time\n", res.CheckpointP50Micros/1e3, res.CheckpointP99Micros/1e3, 100*res.CheckpointShare)
	}
	if res.FloorPerSecond > 0 {
		fmt.Fprintf(env.Stdout, "  %d sessions; walk %.0f contacts/s (%.1fs); floor (bare messages) %.0f/s, ratio %.2f\n", res.Sessions, res.WalkPerSecond, res.WalkSeconds, res.FloorPerSecond, res.FloorRatio)
	}
	if res.HTTP != nil {
		fmt.Fprintf(env.Stdout, "  over HTTP, %d clients: %.0f/s p50=%.0fµs p99=%.0fµs\n", res.HTTP.Clients, res.HTTP.PerSecond, res.HTTP.P50Micros, res.HTTP.P99Micros)
	}
	return nil
}

// writeHeapProfile writes the heap profile (in use after a collection, and allocated over the
// whole run) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchImport imports n generated subscribed Mailchimp rows (each: encryption of the profile, a
// blind index, a suppression check, a consent event and two audit events) and times it.
func benchImport(ctx context.Context, a *app.App, n int) (BenchResult, error) {
	opt, _ := api.ImportOptions(map[string]string{"format": "mailchimp", "name": "bench"})
	var batches []time.Duration
	last := time.Now()
	opt.Progress = func(int) {
		now := time.Now()
		batches = append(batches, now.Sub(last))
		last = now
	}
	start := time.Now()
	rep, err := a.Importer.Import(ctx, &genRows{n: n, offset: 0}, opt)
	if err != nil {
		return BenchResult{}, err
	}
	el := time.Since(start)
	if rep.Created != n {
		return BenchResult{}, fmt.Errorf("bench import created %d contacts; want %d (refused %d)", rep.Created, n, rep.Refused)
	}
	p50, p99 := percentiles(batches)
	return BenchResult{Scenario: "import", N: n, Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds(), P50Micros: p50, P99Micros: p99}, nil
}

// benchLookup loads n contacts, then times lookups by e-mail through the same path as
// GET /api/v1/contacts?email= (normalize, blind index, audited decrypting read), in process.
func benchLookup(ctx context.Context, env Env, a *app.App, n, lookups int) (BenchResult, error) {
	if err := seed(ctx, env, a, n); err != nil {
		return BenchResult{}, err
	}
	lat := make([]time.Duration, 0, lookups)
	start := time.Now()
	for i := 0; i < lookups; i++ {
		k := int((uint64(i) * 2654435761) % uint64(n))
		t0 := time.Now()
		c, err := a.Contacts.FindByEmail(ctx, benchEmail(k))
		if err != nil {
			return BenchResult{}, fmt.Errorf("lookup %d: %w", k, err)
		}
		lat = append(lat, time.Since(t0))
		if c.FirstName != benchFirst(k) {
			return BenchResult{}, fmt.Errorf("lookup %d returned the wrong contact", k)
		}
	}
	el := time.Since(start)
	p50, p99 := percentiles(lat)
	return BenchResult{Scenario: "lookup", N: n, Lookups: lookups, Seconds: el.Seconds(), PerSecond: float64(lookups) / el.Seconds(), P50Micros: p50, P99Micros: p99}, nil
}

// seed imports n generated subscribed contacts (genRows), with progress on stderr.
func seed(ctx context.Context, env Env, a *app.App, n int) error {
	opt, _ := api.ImportOptions(map[string]string{"format": "mailchimp", "name": "bench"})
	opt.Progress = func(rows int) {
		if rows%100000 < 500 {
			fmt.Fprintf(env.Stderr, "loading: %d rows\n", rows)
		}
	}
	_, err := a.Importer.Import(ctx, &genRows{n: n}, opt)
	return err
}

func benchEmail(i int) string { return "person" + strconv.Itoa(i) + "@bench.example" }
func benchFirst(i int) string { return "First" + strconv.Itoa(i) }

// genRows streams a Mailchimp subscribed export of n invented people, without holding it in memory.
type genRows struct {
	n, i, offset int
	buf          bytes.Buffer
	header       bool
}

func (g *genRows) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) {
		if !g.header {
			g.buf.WriteString("Email Address,First Name,Last Name,Company,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,TAGS\n")
			g.header = true
			continue
		}
		if g.i >= g.n {
			break
		}
		k := g.i + g.offset
		fmt.Fprintf(&g.buf, "%s,%s,Last%d,Company %d,2024-01-02 10:00:00,192.0.2.%d,2024-01-02 10:05:00,198.51.100.%d,\"\"\"Bench\"\"\"\n",
			benchEmail(k), benchFirst(k), k, k%1000, k%250, k%250)
		g.i++
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

func percentiles(d []time.Duration) (p50, p99 float64) {
	q := quantiles(d, 0.50, 0.99)
	return q[0], q[1]
}

// quantiles returns the qs-quantiles of d in microseconds (1 is the maximum); zeros for no d.
func quantiles(d []time.Duration, qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if len(d) == 0 {
		return out
	}
	s := slices.Clone(d)
	slices.Sort(s)
	for j, q := range qs {
		out[j] = float64(s[int(q*float64(len(s)-1))].Nanoseconds()) / 1e3
	}
	return out
}

// peakRSSMiB returns the process's peak resident set size (VmHWM) in MiB, or 0 where /proc is absent.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// benchConsentCheck loads n contacts with consent, then measures the consent gate in process
// (consent.Service.Check from every core) and over loopback HTTP (POST /api/v1/consent-checks
// from 16 concurrent clients).
func benchConsentCheck(ctx context.Context, a *app.App, n, checks int) (BenchResult, error) {
	opt, _ := api.ImportOptions(map[string]string{"format": "mailchimp", "name": "bench"})
	rep, err := a.Importer.Import(ctx, &genRows{n: n}, opt)
	if err != nil {
		return BenchResult{}, err
	}
	ids := make([]string, 0, n)
	err = a.Store.View(ctx, func(tx store.Tx) error {
		for after := ""; ; {
			recs, err := tx.ListContacts(ctx, "", after, 1000)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return nil
			}
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			after = recs[len(recs)-1].ID
		}
	})
	if err != nil || len(ids) != rep.Created {
		return BenchResult{}, fmt.Errorf("bench: listing contacts: %d of %d, %v", len(ids), rep.Created, err)
	}

	_, secret, err := a.Tokens.Create(ctx, token.RoleAgent, "bench") // before the warm-up: a write
	if err != nil {
		return BenchResult{}, err
	}

	// In process, from every core, after one pass that fills the gate's cache (a cold check reads
	// the database; the HTTP part below reads each contact cold once).
	for _, id := range ids {
		if _, err := a.Consent.Check(ctx, id, "newsletter"); err != nil {
			return BenchResult{}, err
		}
	}
	workers := runtime.GOMAXPROCS(0)
	per := checks / workers
	lat := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, per)
			for i := range per {
				id := ids[(w*per+i)*7919%len(ids)]
				t0 := time.Now()
				d, err := a.Consent.Check(ctx, id, "newsletter")
				l = append(l, time.Since(t0))
				if err != nil || !d.Allowed {
					errc <- fmt.Errorf("bench: check %s: %+v %v", id, d, err)
					return
				}
			}
			lat[w] = l
		}()
	}
	wg.Wait()
	inProcess := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		return BenchResult{}, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	p50, p99 := percentiles(all)
	res := BenchResult{Scenario: "consent-check", N: n, Seconds: inProcess.Seconds(), PerSecond: float64(len(all)) / inProcess.Seconds(), P50Micros: p50, P99Micros: p99, Lookups: len(all)}

	// Over loopback HTTP, 16 clients.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	hs := &http.Server{Handler: a.HTTP.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	const clients = 16
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	httpChecks := checks / 10
	hl := make([][]time.Duration, clients)
	start = time.Now()
	errc = make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, httpChecks/clients)
			for i := range httpChecks / clients {
				id := ids[(c*httpChecks+i)*7919%len(ids)]
				body := `{"contact_id":"` + id + `","purpose":"newsletter"}`
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+ln.Addr().String()+"/api/v1/consent-checks", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				l = append(l, time.Since(t0))
				if resp.StatusCode != 200 {
					errc <- fmt.Errorf("bench: HTTP check: status %d", resp.StatusCode)
					return
				}
			}
			hl[c] = l
		}()
	}
	wg.Wait()
	httpTime := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		return res, err
	}
	all = all[:0]
	for _, l := range hl {
		all = append(all, l...)
	}
	hp50, hp99 := percentiles(all)
	res.HTTP = &HTTPResult{Clients: clients, Requests: len(all), PerSecond: float64(len(all)) / httpTime.Seconds(), P50Micros: hp50, P99Micros: hp99}
	return res, nil
}

// HTTPResult is the loopback HTTP part of a bench.
type HTTPResult struct {
	Clients   int     `json:"clients"`
	Requests  int     `json:"requests"`
	PerSecond float64 `json:"per_second"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
}

// benchSend sends a marketing campaign to n consenting contacts through a local SMTP sink (a
// real SMTP server, emersion/go-smtp, in this process on 127.0.0.1), as tillit serve does: the
// send is recorded, the audience walked in batches (campaign.Service.Step; timed apart as
// WalkPerSecond), and the outbox hands the messages over on sessions SMTP connections with the
// consent gate asked for every message at hand-off (PerSecond, per 1,000-message pass p50/p99).
// Then the floor: the same sink and transport fed bare messages, without gate or storage, on as
// many connections (FloorPerSecond), so the ratio holds on a busy machine where a figure does not.
func benchSend(ctx context.Context, a *app.App, n int, sink *smtpSink) (BenchResult, error) {
	opt, _ := api.ImportOptions(map[string]string{"format": "mailchimp", "name": "bench"})
	if _, err := a.Importer.Import(ctx, &genRows{n: n}, opt); err != nil {
		return BenchResult{}, err
	}
	camps, outbox := a.Campaigns, a.Outbox
	c, err := camps.Create(ctx, campaign.Campaign{Purpose: "newsletter", Subject: "Bench", Text: "Hello from the bench."})
	if err != nil {
		return BenchResult{}, err
	}
	start := time.Now()
	if _, err = camps.Send(ctx, c.ID); err != nil {
		return BenchResult{}, err
	}
	for done := false; !done; {
		if done, err = camps.Step(ctx, c.ID); err != nil {
			return BenchResult{}, err
		}
	}
	walk := time.Since(start)
	if c, err = camps.Get(ctx, c.ID); err != nil {
		return BenchResult{}, err
	}
	if c.Counts.Walked != n || c.Counts.Messages != n || c.Counts.Queued != n {
		return BenchResult{}, fmt.Errorf("bench: %+v after the walk; want %d walked and queued", *c.Counts, n)
	}
	var batches []time.Duration
	start = time.Now()
	for sent := 0; sent < n; {
		t0 := time.Now()
		s, f, err := outbox.SendDue(ctx, 1000)
		if err != nil {
			return BenchResult{}, err
		}
		if s == 0 && f == 0 {
			return BenchResult{}, fmt.Errorf("bench: the outbox stopped after %d messages", sent)
		}
		if f > 0 {
			return BenchResult{}, fmt.Errorf("bench: %d messages failed", f)
		}
		sent += s
		batches = append(batches, time.Since(t0))
	}
	el := time.Since(start)
	if got := sink.received.Load(); got != int64(n) {
		return BenchResult{}, fmt.Errorf("bench: the sink received %d messages; want %d", got, n)
	}
	sessions := sink.transport.Sessions
	floor, err := sendFloor(ctx, sink.transport, min(n, 200_000), sessions)
	if err != nil {
		return BenchResult{}, err
	}
	p50, p99 := percentiles(batches)
	res := BenchResult{Scenario: "send", N: n, Seconds: el.Seconds(), PerSecond: float64(n) / el.Seconds(), P50Micros: p50, P99Micros: p99,
		Sessions: max(1, sessions), WalkSeconds: walk.Seconds(), WalkPerSecond: float64(n) / walk.Seconds(), FloorPerSecond: floor}
	res.FloorRatio = res.PerSecond / floor
	return res, nil
}

// smtpSink is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that counts the messages it
// receives and keeps nothing, with the transport that sends to it.
type smtpSink struct {
	received  atomic.Int64
	transport *mail.SMTPTransport
	server    *smtp.Server
	done      sync.WaitGroup
}

// startSink starts a sink; its transport hands messages over on sessions connections at once.
func startSink(sessions int) (*smtpSink, error) {
	k := &smtpSink{}
	k.server = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &countingSession{n: &k.received}, nil }))
	k.server.Domain, k.server.AllowInsecureAuth = "sink.bench", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if k.transport, err = mail.NewSMTPTransport("smtp://"+ln.Addr().String()+"?tls=none", "bench@tillit.example", "tillit.example"); err != nil {
		ln.Close()
		return nil, err
	}
	k.transport.Sessions = sessions
	k.done.Go(func() { k.server.Serve(ln) })
	return k, nil
}

func (k *smtpSink) close() {
	k.server.Close()
	k.done.Wait()
}

// sendFloor hands n bare messages (no consent gate, no storage, no encryption) to transport on
// sessions connections at once and returns messages per second: the most the outbox could reach
// on this machine with this transport.
func sendFloor(ctx context.Context, transport mail.Transport, n, sessions int) (float64, error) {
	sessions = max(1, sessions)
	var next atomic.Int64
	errc := make(chan error, sessions)
	var wg sync.WaitGroup
	start := time.Now()
	for range sessions {
		wg.Go(func() {
			s, err := transport.Open(ctx)
			if err != nil {
				errc <- err
				return
			}
			defer s.Close()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				m := mail.Message{ID: uuid.Must(uuid.NewV7()).String(), Stream: mail.Marketing, Kind: "campaign", To: benchEmail(int(i)), Subject: "Bench",
					Text: "Hello from the bench.\n\n--\nUnsubscribe with one click: http://bench.example/u/x\n", CreatedAt: time.Now()}
				if err := s.Send(ctx, m); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		return 0, fmt.Errorf("bench: floor: %w", err)
	}
	return float64(n) / el.Seconds(), nil
}

// countingSession is an SMTP session that counts messages and keeps nothing.
type countingSession struct{ n *atomic.Int64 }

func (s *countingSession) Reset()                               {}
func (s *countingSession) Logout() error                        { return nil }
func (s *countingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *countingSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *countingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}

// dsrSample is how many contacts the export and erase scenarios time, one call each.
const dsrSample = 200

// seedDSR seeds n contacts as the lookup scenario does, then picks dsrSample of them at random
// (fixed seed), finds each by e-mail and gives it two more consent events (withdrawn, given again
// by web form), so each sampled person has three consent events and their audit events. It ends
// with a WAL checkpoint, so the first timed call is not charged for the seeding's log.
func seedDSR(ctx context.Context, env Env, a *app.App, n int) ([]string, error) {
	if err := seed(ctx, env, a, n); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	picked := map[int]bool{}
	ids := make([]string, 0, min(n, dsrSample))
	for len(ids) < cap(ids) {
		k := rng.IntN(n)
		if picked[k] {
			continue
		}
		picked[k] = true
		c, err := a.Contacts.FindByEmail(ctx, benchEmail(k))
		if err != nil {
			return nil, fmt.Errorf("bench: find %d: %w", k, err)
		}
		for _, st := range []consent.State{consent.Withdrawn, consent.Given} {
			e := consent.Event{ContactID: c.ID, Purpose: "newsletter", State: st, Method: consent.MethodWebForm,
				Evidence: consent.Evidence{IP: "192.0.2.7", UserAgent: "bench", FormID: "preferences"}}
			if _, err := a.Consent.Record(ctx, e); err != nil {
				return nil, err
			}
		}
		ids = append(ids, c.ID)
	}
	return ids, a.Store.Purge(ctx)
}

// timeEach calls fn for every id in turn and returns the scenario's result: PerSecond is calls
// per second, latencies are per call.
func timeEach(scenario string, n int, ids []string, fn func(id string) error) (BenchResult, error) {
	lat := make([]time.Duration, 0, len(ids))
	start := time.Now()
	for _, id := range ids {
		t0 := time.Now()
		if err := fn(id); err != nil {
			return BenchResult{}, fmt.Errorf("bench %s %s: %w", scenario, id, err)
		}
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start)
	q := quantiles(lat, 0.50, 0.95, 0.99, 1)
	return BenchResult{Scenario: scenario, N: n, Sample: len(ids), Seconds: el.Seconds(), PerSecond: float64(len(ids)) / el.Seconds(),
		P50Micros: q[0], P95Micros: q[1], P99Micros: q[2], MaxMicros: q[3]}, nil
}

// benchExport seeds n contacts, then times the staff access-bundle export
// (GET /api/v1/contacts/{id}/export: dsr.Service.Export, one transaction, audited) of dsrSample of them.
func benchExport(ctx context.Context, env Env, a *app.App, n int) (BenchResult, error) {
	ids, err := seedDSR(ctx, env, a, n)
	if err != nil {
		return BenchResult{}, err
	}
	total := 0
	res, err := timeEach("export", n, ids, func(id string) error {
		zip, err := a.Export(ctx, id)
		if err == nil && !bytes.HasPrefix(zip, []byte("PK\x03\x04")) {
			err = fmt.Errorf("the bundle is not a zip")
		}
		total += len(zip)
		return err
	})
	if err != nil {
		return BenchResult{}, err
	}
	res.BundleBytes = total / len(ids)
	return res, nil
}

// benchErase seeds n contacts, then times the erasure (DELETE /api/v1/contacts/{id}:
// contact.Service.Erase, ending with the WAL checkpoint) of dsrSample of them.
func benchErase(ctx context.Context, env Env, a *app.App, n int) (BenchResult, error) {
	ids, err := seedDSR(ctx, env, a, n)
	if err != nil {
		return BenchResult{}, err
	}
	// The WAL checkpoint that ends every erasure is timed apart too, to show its share.
	ckpt := &timedCheckpoint{Store: a.Contacts.Store}
	a.Contacts.Store = ckpt
	res, err := timeEach("erase", n, ids, func(id string) error { return a.Erase(ctx, id) })
	if err != nil {
		return BenchResult{}, err
	}
	var sum time.Duration
	for _, d := range ckpt.d {
		sum += d
	}
	res.CheckpointP50Micros, res.CheckpointP99Micros = percentiles(ckpt.d)
	res.CheckpointShare = sum.Seconds() / res.Seconds
	for _, id := range ids {
		if _, err := a.Contacts.Get(ctx, id); !apperr.Is(err, apperr.NotFound) {
			return BenchResult{}, fmt.Errorf("bench: contact %s after erasure: %v; want not found", id, err)
		}
	}
	return res, nil
}

// timedCheckpoint is a contact store that records how long each Purge (on SQLite a WAL
// checkpoint) takes.
type timedCheckpoint struct {
	contact.Store
	d []time.Duration
}

func (s *timedCheckpoint) Purge(ctx context.Context) error {
	t0 := time.Now()
	err := s.Store.Purge(ctx)
	s.d = append(s.d, time.Since(t0))
	return err
}
