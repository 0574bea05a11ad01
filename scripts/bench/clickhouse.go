package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// bigOrgSessions is how many other sessions the org holds in the
// one-session cycle: a large team's store.
const bigOrgSessions = 300_000

// clickhouseBigOrg times syncing one session into an org whose store
// already holds bigOrgSessions sessions of other machines (each with a
// watermark and a message): a batch must read only its own machine and
// sessions, so this costs what a small store costs. It also counts the
// requests a cycle sends, through a counting proxy.
func clickhouseBigOrg(t *table, dir, bin, src, base string, runs int) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	db := fmt.Sprintf("bench_org_%d", time.Now().UnixNano())
	post := func(q string) error {
		out, err := exec.Command("curl", "-fsS", "http://"+u.Host+"/?database="+db, "--data-binary", q).CombinedOutput()
		if err != nil {
			return fmt.Errorf("clickhouse big org: %v: %s", err, out)
		}
		return nil
	}
	if err := exec.Command("curl", "-fsS", "http://"+u.Host+"/", "--data-binary", "CREATE DATABASE "+db).Run(); err != nil {
		return err
	}
	defer exec.Command("curl", "-fsS", "http://"+u.Host+"/", "--data-binary", "DROP DATABASE "+db).Run()

	var requests atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: u.Host})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		proxy.ServeHTTP(w, r)
	})}
	l, err := listen()
	if err != nil {
		return err
	}
	go srv.Serve(l)
	defer srv.Close()
	storeURL := "clickhouse://" + l.Addr().String() + "/" + db

	// The store's tables, made by av-write on an empty source; then the
	// other machines' sessions, written straight into them.
	env := append(freshEnv(dir, src), "AV_STORE="+storeURL, "AV_LIMIT=1")
	if _, _, err := syncOnce(bin, env); err != nil {
		return err
	}
	fill := fmt.Sprintf(`INSERT INTO store_rows (kind, org_id, machine, session_id, k_ord, project, content, file_hash, seq, _version)
		SELECT arrayJoin(['sessions', 'sync_watermarks', 'messages']) AS kind, '', concat('machine-', toString(number %% 100)),
		concat('other-', toString(number)), 0, 'team/repo', if(kind = 'messages', 'a message of another machine', ''), 'h', 1, 16777216
		FROM numbers(%d)`, bigOrgSessions)
	if err := post(fill); err != nil {
		return err
	}
	var ids []string
	out, err := exec.Command("sqlite3", src, "SELECT id FROM sessions ORDER BY id LIMIT "+fmt.Sprint(runs+1)).Output()
	if err != nil {
		return err
	}
	ids = strings.Fields(string(out))
	var times []time.Duration
	var rss, reqs int64
	for i := 0; i < runs && i < len(ids); i++ {
		before := requests.Load()
		d, peak, err := syncOnce(bin, append(stateEnv(dir, src), "AV_STORE="+storeURL, "AV_SESSION="+ids[i], "AV_FULL=1"))
		if err != nil {
			return err
		}
		times = append(times, d)
		rss = max(rss, peak[2])
		reqs = requests.Load() - before
	}
	row := t.area("ClickHouse", "")
	row(fmt.Sprintf("one session into an org of %dk others (%d runs)", bigOrgSessions/1000, len(times)), fmt.Sprintf("%d ms", median(times).Milliseconds()), "", true)
	row("  its peak RSS av-write; requests a cycle", fmt.Sprintf("%d MB; %d", rss>>10, reqs), "< 64 MB", rss>>10 < 64)
	return nil
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
