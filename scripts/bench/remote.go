package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"avsync/pkg/gen"
	"avsync/pkg/netdelay"
)

// remoteDelay is added to each direction between av-write and a remote
// store: a 20 ms round trip, a team server in the same region.
const remoteDelay = 10 * time.Millisecond

// remoteBench shows what a distant store costs: for PostgreSQL and
// ClickHouse, the full sync of the bench database and of a small one, and
// the one-change cycle, each on loopback and through a netdelay proxy that
// holds every byte 10 ms in each direction.
func remoteBench(t *table, dir, bin, template, benchSrc string, small gen.Spec, runs int) error {
	smallSrc, err := source(dir, template, small)
	if err != nil {
		return err
	}
	row := t.area("remote store", fmt.Sprintf("each store on loopback and, runs interleaved, through a proxy of its own (pkg/netdelay, on 127.0.0.1) that holds every chunk of bytes %s in each direction (a %s round trip); targets: full sync <= 1.5x loopback, one-change cycle <= 300 ms",
		remoteDelay, 2*remoteDelay))
	for _, s := range []struct {
		name   string
		server func(string) (string, func(), error)
		fresh  func(base, host string) []string
	}{
		{"PostgreSQL", postgresServer, func(base, host string) []string {
			return []string{"AV_STORE=" + withHost(base, host), fmt.Sprintf("AV_PG_SCHEMA=bench_%d", time.Now().UnixNano())}
		}},
		{"ClickHouse", clickhouseServer, func(base, host string) []string {
			u := withHost(base, host)
			store := u[:strings.LastIndex(u, "/")] + fmt.Sprintf("/bench_%d", time.Now().UnixNano())
			if !strings.HasPrefix(base, "clickhouse://"+host+"/") {
				// The proxy is on 127.0.0.1, but stands for a distant
				// server: bodies compressed, as to any other host.
				store += "?compress=1"
			}
			return []string{"AV_STORE=" + store}
		}},
	} {
		base, stop, err := s.server(dir)
		if err != nil {
			return err
		}
		err = remoteRows(row, s.name, dir, bin, base, benchSrc, smallSrc, small, runs, s.fresh)
		stop()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

func remoteRows(row func(measure, value, target string, ok bool), name, dir, bin, base, benchSrc, smallSrc string, small gen.Spec,
	runs int, fresh func(base, host string) []string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	proxy, err := netdelay.Start(u.Host, remoteDelay)
	if err != nil {
		return err
	}
	defer proxy.Close()
	// full syncs src into a fresh store reached at host; env is the run's,
	// for cycles after it.
	full := func(src, host string) (d time.Duration, env []string, err error) {
		env = append(freshEnv(dir, src), fresh(base, host)...)
		d, _, err = syncOnce(bin, env)
		return d, env, err
	}
	// both syncs src on loopback and remote in turn, runs times each
	// (interleaved, so both meet the same server: the autovacuum and
	// checkpoints that earlier runs' rows bring), and gives the medians.
	both := func(src string) (local, remote time.Duration, err error) {
		var locals, remotes []time.Duration
		for i := 0; i < runs; i++ {
			d, _, err := full(src, u.Host)
			if err != nil {
				return 0, 0, err
			}
			locals = append(locals, d)
			if d, _, err = full(src, proxy.Addr); err != nil {
				return 0, 0, err
			}
			remotes = append(remotes, d)
		}
		return median(locals), median(remotes), nil
	}
	local, remote, err := both(benchSrc)
	if err != nil {
		return err
	}
	ratio := float64(remote) / float64(local)
	row(fmt.Sprintf("%s: full sync, bench database, loopback / remote (%d runs)", name, runs),
		fmt.Sprintf("%s / %s (%.2fx)", secs(local), secs(remote), ratio), "<= 1.5x", ratio <= 1.5)
	// The small database, then the one-change cycle on it, on each link
	// (after a sync of its own: the runs share one state file).
	if local, remote, err = both(smallSrc); err != nil {
		return err
	}
	cycles := func(host string) (time.Duration, error) {
		_, env, err := full(smallSrc, host)
		if err != nil {
			return 0, err
		}
		return newMessageCycles(smallSrc, env, bin, 10)
	}
	oneLocal, err := cycles(u.Host)
	if err != nil {
		return err
	}
	oneRemote, err := cycles(proxy.Addr)
	if err != nil {
		return err
	}
	ratio = float64(remote) / float64(local)
	row(fmt.Sprintf("%s: full sync, %d sessions of %d messages, loopback / remote (%d runs)", name, small.Sessions, small.MessagesPerSession, runs),
		fmt.Sprintf("%s / %s (%.2fx)", secs(local), secs(remote), ratio), "<= 1.5x", ratio <= 1.5)
	row(fmt.Sprintf("%s: one-change cycle, loopback / remote (10 runs)", name),
		fmt.Sprintf("%d / %d ms", oneLocal.Milliseconds(), oneRemote.Milliseconds()), "<= 300 ms", oneRemote <= 300*time.Millisecond)
	return nil
}

// withHost is a store URL with its host:port replaced.
func withHost(raw, host string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Host = host
	return u.String()
}
