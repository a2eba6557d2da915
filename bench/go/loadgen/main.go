// Command loadgen is bench/load.ts again, on etcd's own Go client (go.etcd.io/etcd/clientv3 3.4): a load
// generator written independently of ours, so a bench result cannot come from a quirk our client and
// our server share. Same flags, same keys and values for a seed, same stdout protocol and JSON result
// (LoadResult of bench/common/loadgen.ts); bench/common/goload.ts builds and runs it.
//
//	loadgen --port P | --ports P1,P2,P3 | --endpoints host:port,... --mode put|range|fill
//	        [--total N] [--clients C] [--conns K] [--keyspace 10000] [--value-size 256]
//	        [--keys N --batch 100 --inflight 8] [--max-seconds 90] [--seed 1] [--label text]
//	        [--serializable 1|0] [--call-timeout-ms 15000]
//
// --conns K: K clientv3.Client objects, each with its own gRPC connection to a single endpoint
// (connection j to endpoint j mod n); worker i uses connection i mod K.
// What the official client adds over load.ts: it encodes each request itself, and retries a call that
// fails with Unavailable before it reached the server (its built-in retry interceptor).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// result is the JSON line of load.ts, field for field and in its order (LoadResult).
type result struct {
	Mode        string   `json:"mode"`
	Label       string   `json:"label"`
	Requested   int      `json:"requested"`
	Done        int      `json:"done"`
	Ok          int      `json:"ok"`
	Errors      int      `json:"errors"`
	FirstErrors []string `json:"firstErrors"`
	TimedOut    bool     `json:"timedOut"`
	ElapsedMs   jsNumber `json:"elapsedMs"`
	Rate        jsNumber `json:"rate"`
	P50Ms       jsNumber `json:"p50Ms"`
	P90Ms       jsNumber `json:"p90Ms"`
	P99Ms       jsNumber `json:"p99Ms"`
	P999Ms      jsNumber `json:"p999Ms"`
	MaxMs       jsNumber `json:"maxMs"`
	ClientCpuMs jsNumber `json:"clientCpuMs"`
}

// jsNumber encodes NaN and the infinities as null, as JSON.stringify does (encoding/json refuses them),
// so a run with no completed request still yields one parseable line.
type jsNumber float64

func (n jsNumber) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// flags holds --name value / --name=value pairs, the syntax load.ts accepts.
type flags map[string]string

var known = map[string]bool{
	"port": true, "ports": true, "endpoints": true, "mode": true, "total": true, "clients": true, "conns": true,
	"keyspace": true, "value-size": true, "max-seconds": true, "seed": true, "label": true, "keys": true,
	"batch": true, "inflight": true, "serializable": true, "call-timeout-ms": true,
}

func parseFlags(argv []string) (flags, error) {
	out := flags{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		name, value := a[2:], ""
		if eq := strings.IndexByte(name, '='); eq > 0 {
			name, value = name[:eq], name[eq+1:]
		} else if i+1 < len(argv) {
			i++
			value = argv[i]
		}
		// Unlike load.ts, an unknown flag is an error: silently ignoring one the harness passes to both
		// generators would make the two runs differ unnoticed.
		if !known[name] {
			return nil, fmt.Errorf("unknown flag --%s", name)
		}
		out[name] = value
	}
	return out, nil
}

// num is load.ts's num(): a finite, non-negative number, or dflt when the flag is absent.
func (f flags) num(name string, dflt float64) float64 {
	v, ok := f[name]
	if !ok {
		return dflt
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
		fail(fmt.Errorf("--%s: not a number: %s", name, v))
	}
	return n
}

func (f flags) count(name string, dflt, min float64) int {
	return int(math.Max(min, math.Floor(f.num(name, dflt))))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
	os.Exit(2)
}

// mulberry32 is seededRandom of src/pkg/prng.ts, bit for bit: the same seed gives the same values and
// the same key picks as load.ts.
type mulberry32 struct{ a uint32 }

func (m *mulberry32) next() float64 {
	m.a += 0x6d2b79f5
	t := m.a
	t = (t ^ (t >> 15)) * (t | 1)
	t ^= t + (t^(t>>7))*(t|61)
	return float64(t^(t>>14)) / 4294967296
}

// keyOf names key i as load.ts does ("bench/00000042"), so a range finds what a fill wrote.
func keyOf(i int) string { return fmt.Sprintf("bench/%08d", i) }

// percentile is load.ts's: the smallest sample with at least p% of the samples at or below it.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i > len(sorted)-1 {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func cpuMs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	ms := func(t syscall.Timeval) float64 { return float64(t.Sec)*1000 + float64(t.Usec)/1000 }
	return ms(ru.Utime) + ms(ru.Stime)
}

func endpointsOf(f flags) []string {
	var eps []string
	switch {
	case f["endpoints"] != "":
		eps = strings.Split(f["endpoints"], ",")
	case f["ports"] != "":
		for _, p := range strings.Split(f["ports"], ",") {
			eps = append(eps, "127.0.0.1:"+p)
		}
	case f["port"] != "":
		eps = []string{"127.0.0.1:" + f["port"]}
	}
	if len(eps) == 0 {
		fail(fmt.Errorf("--port, --ports or --endpoints is required"))
	}
	for _, ep := range eps {
		if i := strings.LastIndexByte(ep, ':'); i <= 0 {
			fail(fmt.Errorf("endpoint %q: expected host:port", ep))
		} else if p, err := strconv.Atoi(ep[i+1:]); err != nil || p <= 0 || p > 65535 {
			fail(fmt.Errorf("endpoint %q: bad port", ep))
		}
	}
	return eps
}

// connect opens n clients, client j on endpoint j mod len(eps) alone, each connected before it returns
// (WithBlock), as load.ts connects before "@start".
func connect(n int, eps []string) ([]*clientv3.Client, error) {
	// Warnings only: the client logs each retry it makes, which is worth seeing; its info lines are not.
	logCfg := zap.NewProductionConfig()
	logCfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	logCfg.Encoding = "console"
	logCfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	out := make([]*clientv3.Client, 0, n)
	for j := 0; j < n; j++ {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{eps[j%len(eps)]},
			DialTimeout: 10 * time.Second,
			DialOptions: []grpc.DialOption{grpc.WithBlock()},
			LogConfig:   &logCfg,
		})
		if err != nil {
			for _, c := range out {
				c.Close()
			}
			return nil, fmt.Errorf("connection %d to %s: %v", j, eps[j%len(eps)], err)
		}
		out = append(out, c)
	}
	return out, nil
}

// call sends request i over c; an error includes a failed range check.
type call func(ctx context.Context, c *clientv3.Client, i int) error

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		fail(err)
	}
	eps := endpointsOf(f)
	mode := f["mode"]
	if mode == "" {
		mode = "put"
	}
	if mode != "put" && mode != "range" && mode != "fill" {
		fail(fmt.Errorf("--mode: put, range or fill, not %s", mode))
	}
	serializable := f.num("serializable", 1) != 0
	clients := f.count("clients", 100, 1)
	conns := f.count("conns", 10, 1)
	keyspace := f.count("keyspace", 10_000, 1)
	valueSize := f.count("value-size", 256, 0)
	maxSeconds := f.num("max-seconds", 90)
	seed := uint32(uint64(math.Floor(f.num("seed", 1))))
	if seed == 0 {
		seed = 1
	}
	label := mode
	if l, ok := f["label"]; ok {
		label = l
	}
	keys := f.count("keys", 100_000, 0)
	batch := f.count("batch", 100, 1)
	inflight := f.count("inflight", 8, 1)
	callTimeout := time.Duration(f.num("call-timeout-ms", 15_000) * float64(time.Millisecond))

	rand := &mulberry32{a: seed}
	baseValue := make([]byte, valueSize)
	for i := range baseValue {
		baseValue[i] = byte(97 + math.Floor(rand.next()*26))
	}
	// A value that differs per key (its index in front), so no two values are the same.
	valueOf := func(i int) string {
		v := append([]byte(nil), baseValue...)
		copy(v, strconv.Itoa(i))
		return string(v)
	}

	var requested, workers int
	var do call
	if mode == "put" || mode == "range" {
		requested = f.count("total", 20_000, 0)
		workers = clients
		// Keys and values are made up front, and the key of each request picked up front, as load.ts does.
		keyNames := make([]string, keyspace)
		values := make([]string, keyspace)
		for k := range keyNames {
			keyNames[k] = keyOf(k)
			if mode == "put" {
				values[k] = valueOf(k)
			}
		}
		picks := make([]int, requested)
		for i := range picks {
			picks[i] = int(math.Floor(rand.next() * float64(keyspace)))
		}
		if mode == "put" {
			do = func(ctx context.Context, c *clientv3.Client, i int) error {
				_, err := c.Put(ctx, keyNames[picks[i]], values[picks[i]])
				return err
			}
		} else {
			var opts []clientv3.OpOption
			if serializable {
				opts = append(opts, clientv3.WithSerializable())
			}
			do = func(ctx context.Context, c *clientv3.Client, i int) error {
				resp, err := c.Get(ctx, keyNames[picks[i]], opts...)
				if err != nil {
					return err
				}
				// Checked on every 25th response, as load.ts decodes only those.
				if i%25 == 0 && len(resp.Kvs) != 1 {
					return fmt.Errorf("range of an existing key returned %d keys (key index %d)", len(resp.Kvs), picks[i])
				}
				return nil
			}
		}
	} else {
		requested = (keys + batch - 1) / batch
		workers = inflight
		do = func(ctx context.Context, c *clientv3.Client, i int) error {
			var ops []clientv3.Op
			for k := i * batch; k < keys && k < (i+1)*batch; k++ {
				ops = append(ops, clientv3.OpPut(keyOf(k), valueOf(k)))
			}
			_, err := c.Txn(ctx).Then(ops...).Commit()
			return err
		}
	}

	nconns := conns
	if workers < nconns {
		nconns = workers
	}
	cs, err := connect(nconns, eps)
	if err != nil {
		fail(err)
	}

	var next, done, ok, errs int64
	var timedOut atomic.Bool
	var errMu sync.Mutex
	firstErrors := []string{}
	lat := make([][]float64, workers)

	// Markers for bench/run.ts, which reads the server's CPU time exactly around the measured part.
	os.Stdout.WriteString("@start\n")
	cpu0 := cpuMs()
	t0 := time.Now()
	deadline := t0.Add(time.Duration(maxSeconds * float64(time.Second)))

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
			}
			d, e := atomic.LoadInt64(&done), atomic.LoadInt64(&errs)
			unit := fmt.Sprintf("%d/%d", d, requested)
			if mode == "fill" {
				unit = fmt.Sprintf("%d/%d keys", minInt(keys, int(d)*batch), keys)
			}
			pct := 0.0
			if requested > 0 {
				pct = math.Round(100 * float64(d) / float64(requested))
			}
			tail := ""
			if e > 0 {
				tail = fmt.Sprintf(", %d errors", e)
			}
			fmt.Fprintf(os.Stderr, "  [%s] %s (%.0f%%) %.1fs%s\n", label, unit, pct, time.Since(t0).Seconds(), tail)
		}
	}()

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			mine := make([]float64, 0, requested/workers+1)
			defer func() { lat[w] = mine }()
			for {
				if time.Now().After(deadline) {
					timedOut.Store(true)
					return
				}
				i := int(atomic.AddInt64(&next, 1) - 1)
				if i >= requested {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				start := time.Now()
				err := do(ctx, c, i)
				ms := float64(time.Since(start).Nanoseconds()) / 1e6
				cancel()
				if err == nil {
					atomic.AddInt64(&ok, 1)
				} else {
					atomic.AddInt64(&errs, 1)
					errMu.Lock()
					if len(firstErrors) < 5 {
						firstErrors = append(firstErrors, err.Error())
					}
					errMu.Unlock()
					// The connection is gone: stop rather than wait out the call timeout on every
					// remaining request (load.ts stops when its session closes).
					if s := c.ActiveConnection().GetState(); s == connectivity.Shutdown || s == connectivity.TransientFailure {
						timedOut.Store(true)
						return
					}
				}
				mine = append(mine, ms)
				atomic.AddInt64(&done, 1)
			}
		}(w)
	}
	wg.Wait()
	elapsedMs := float64(time.Since(t0).Nanoseconds()) / 1e6
	os.Stdout.WriteString("@end\n")
	close(stopProgress)
	<-progressDone
	cpu := cpuMs() - cpu0
	for _, c := range cs {
		c.Close()
	}

	var sorted []float64
	for _, l := range lat {
		sorted = append(sorted, l...)
	}
	sort.Float64s(sorted)
	units := float64(ok)
	if mode == "fill" {
		units = float64(minInt(keys, int(ok)*batch))
	}
	maxMs := math.NaN()
	if len(sorted) > 0 {
		maxMs = sorted[len(sorted)-1]
	}
	r := result{
		Mode: mode, Label: label, Requested: requested, Done: int(done), Ok: int(ok), Errors: int(errs),
		FirstErrors: firstErrors, TimedOut: timedOut.Load(), ElapsedMs: jsNumber(elapsedMs),
		Rate:  jsNumber(units / (elapsedMs / 1000)),
		P50Ms: jsNumber(percentile(sorted, 50)), P90Ms: jsNumber(percentile(sorted, 90)),
		P99Ms: jsNumber(percentile(sorted, 99)), P999Ms: jsNumber(percentile(sorted, 99.9)),
		MaxMs: jsNumber(maxMs), ClientCpuMs: jsNumber(cpu),
	}
	line, err := json.Marshal(r)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(line, '\n'))
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
