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
	row := t.area("remote store", fmt.Sprintf("each store on loopback, then through a proxy of its own (pkg/netdelay, on 127.0.0.1) that holds every chunk of bytes %s in each direction (a %s round trip); targets: full sync <= 1.5x loopback, one-change cycle <= 300 ms",
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
	// full syncs src into a fresh store reached at host, runs times; env is
	// the last run's, for the cycles after it.
	full := func(src, host string) (d time.Duration, env []string, err error) {
		d, err = medianRuns(runs, func() (time.Duration, error) {
			env = append(freshEnv(dir, src), fresh(base, host)...)
			d, _, err := syncOnce(bin, env)
			return d, err
		})
		return d, env, err
	}
	pair := func(what, src string) (env []string, err error) {
		local, _, err := full(src, u.Host)
		if err != nil {
			return nil, err
		}
		remote, env, err := full(src, proxy.Addr)
		if err != nil {
			return nil, err
		}
		ratio := float64(remote) / float64(local)
		row(fmt.Sprintf("%s: %s, loopback / remote (%d runs)", name, what, runs),
			fmt.Sprintf("%s / %s (%.2fx)", secs(local), secs(remote), ratio), "<= 1.5x", ratio <= 1.5)
		return env, nil
	}
	if _, err := pair("full sync, bench database", benchSrc); err != nil {
		return err
	}
	// The one-change cycle on the small database, on each link.
	local, localEnv, err := full(smallSrc, u.Host)
	if err != nil {
		return err
	}
	oneLocal, err := newMessageCycles(smallSrc, localEnv, bin, 10)
	if err != nil {
		return err
	}
	remote, remoteEnv, err := full(smallSrc, proxy.Addr)
	if err != nil {
		return err
	}
	oneRemote, err := newMessageCycles(smallSrc, remoteEnv, bin, 10)
	if err != nil {
		return err
	}
	ratio := float64(remote) / float64(local)
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
