"""Several Huanxin servers on one PostgreSQL behind nginx, files in an S3-compatible store, as an
operator runs them (issue 18).

Starts three `huanxin serve` processes on a fresh PostgreSQL database and nginx in front of them,
then checks, through nginx and through each server directly:
- a session works on every server, and a sign-out on one ends it on the others at once (LISTEN/NOTIFY);
- an estate created on one server is in another's list at once (its list totals were cached);
- the ledger check, a job, is taken by one server; that server is killed (SIGKILL) mid-check while a
  stream of writes goes through nginx: another server takes the job over and finishes it exactly once,
  every acknowledged write is there, the session keeps working;
- periodic jobs run once in the cluster, not once per server;
- files go to the S3-compatible store (s3s-fs): filed on one server, read whole or by range on another;
  with the store down, readiness says so and an upload is refused with nothing written; files an older
  version kept in the database move out with `huanxin files migrate`;
- readiness and liveness answer; /metrics counts requests and the job queue;
- a second server on one SQLite file is refused with a clear message.
Prints `N passed, N failed`.
"""

import hashlib
import json
import os
import random
import re
import struct
import zlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "debug", "huanxin")
BENCH = os.path.join(ROOT, "target", "debug", "huanxin-bench")
PASSWORD = "cluster-password-1"
# Enough entries that a debug build's check takes a few seconds: time to kill its server mid-way.
DEVICES = 200
LEDGER_ENTRIES = int(os.environ.get("HUANXIN_CLUSTER_LEDGER", "800000"))

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, body=None, token=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as e:
        return 0, str(e)


def png(width, height, seed):
    """A real PNG of random pixels (the archive checks what a file is)."""
    rnd = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rnd.getrandbits(8) for _ in range(width * 3)) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def upload(base, path, token, fields, filename, content, mime):
    boundary = "hxcluster" + str(random.getrandbits(64))
    body = b""
    for k, v in fields:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             f"Content-Type: {mime}\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(base + path, data=body, method="POST")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def get_bytes(base, path, token, headers=()):
    req = urllib.request.Request(base + path)
    req.add_header("Authorization", "Bearer " + token)
    for k, v in headers:
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def psql(url, sql):
    out = subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def wait_for(what, f, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.1)
    raise RuntimeError(f"gave up waiting for {what}")


def main():
    admin_url = sys.argv[1]
    db_name = f"hx_cluster_{os.getpid()}"
    psql(admin_url, f"DROP DATABASE IF EXISTS {db_name}")
    psql(admin_url, f"CREATE DATABASE {db_name}")
    url = admin_url.rsplit("/", 1)[0] + "/" + db_name
    work = tempfile.mkdtemp(prefix="hx-cluster-")
    servers, nginx, s3 = [], None, None
    s3_port = free_port()
    s3_root = os.path.join(work, "s3")
    os.makedirs(os.path.join(s3_root, "huanxin-files"))

    topic_root = f"cl{os.getpid()}"

    def start_s3():
        p = subprocess.Popen(["s3s-fs", "--host", "127.0.0.1", "--port", str(s3_port), "--access-key", "hxkey",
                              "--secret-key", "hxsecret", s3_root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("s3s-fs", lambda: socket.socket().connect_ex(("127.0.0.1", s3_port)) == 0, 20)
        return p

    base_env = dict(os.environ, HUANXIN_DATABASE_URL=url, HUANXIN_REGIONS="all", HUANXIN_LOG="warn",
                    HUANXIN_DATA_DIR=os.path.join(work, "cli"), HUANXIN_FILE_STORE="s3",
                    HUANXIN_S3_ENDPOINT=f"http://127.0.0.1:{s3_port}", HUANXIN_S3_BUCKET="huanxin-files",
                    HUANXIN_S3_ACCESS_KEY="hxkey", HUANXIN_S3_SECRET_KEY="hxsecret",
                    HUANXIN_CHAIN_KEY="cluster-test-chain-key-" + "0123456789abcdef" * 2)
    try:
        s3 = start_s3()
        # One database made ready once: migrated, a county's estates, a ledger, two accounts.
        subprocess.run([BENCH, "gen", os.path.join(work, "gen"), "1", "20"], check=True, capture_output=True)
        subprocess.run([BIN, "migrate"], env=base_env, check=True, capture_output=True)
        subprocess.run([BIN, "import", "estates", os.path.join(work, "gen", "estates.csv")], env=base_env, check=True,
                       capture_output=True)
        # Devices whose readings are published across the ingest's handover.
        subprocess.run([BENCH, "alarms-seed", url, str(DEVICES)], env=base_env, check=True, capture_output=True)
        t0 = time.time()
        subprocess.run([BENCH, "ledger", url, str(LEDGER_ENTRIES)], env=base_env, check=True, capture_output=True)
        print(f"     a ledger of {LEDGER_ENTRIES} entries written in {time.time() - t0:.1f} s", flush=True)
        community = psql(url, "SELECT community_code FROM estates ORDER BY id LIMIT 1")
        for user, role, region in [("cl_finance", "ministry_admin", "000000000000"),
                                   ("cl_staff", "county_staff", community[:6] + "000000")]:
            subprocess.run([BIN, "user", "add", user, "--role", role, "--region", region],
                           env=dict(base_env, HUANXIN_NEW_PASSWORD=PASSWORD), check=True, capture_output=True)

        def start(i, port=None):
            port = port or free_port()
            env = dict(base_env, HUANXIN_BIND=f"127.0.0.1:{port}", HUANXIN_DATA_DIR=os.path.join(work, f"s{i}"),
                       HUANXIN_MQTT_URL="mqtt://127.0.0.1:1883", HUANXIN_MQTT_TOPIC_ROOT=topic_root,
                       HUANXIN_MQTT_CLIENT_ID=f"cl-ingest-{os.getpid()}")
            log = open(os.path.join(work, f"server{i}.log"), "a")
            p = subprocess.Popen([BIN, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            wait_for(f"server {i}", lambda: call(base, "GET", "/api/v1/health/live")[0] == 200)
            return {"proc": p, "port": port, "base": base, "data": os.path.join(work, f"s{i}")}

        servers = [start(i) for i in range(3)]
        lb_port = free_port()
        conf = os.path.join(work, "nginx.conf")
        upstreams = "\n".join(f"    server 127.0.0.1:{s['port']} max_fails=1 fail_timeout=30s;" for s in servers)
        user = "user root;" if os.geteuid() == 0 else ""
        with open(conf, "w") as f:
            f.write(f"""{user}
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
  upstream huanxin {{
{upstreams}
  }}
  server {{
    listen 127.0.0.1:{lb_port};
    client_max_body_size 25m;
    location / {{
      proxy_pass http://huanxin;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_next_upstream error timeout http_502;
      proxy_connect_timeout 2s;
    }}
    # Archive documents (max_file_mb): passed on as they arrive, not buffered whole by nginx.
    location ~ ^/api/v1/estates/[0-9]+/archive$ {{
      client_max_body_size 2100m;
      proxy_request_buffering off;
      proxy_pass http://huanxin;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_connect_timeout 2s;
    }}
  }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        lb = f"http://127.0.0.1:{lb_port}"
        wait_for("nginx", lambda: call(lb, "GET", "/api/v1/health/live")[0] == 200, 20)

        # Readiness and liveness on each server.
        ready = [call(s["base"], "GET", "/api/v1/health/ready") for s in servers]
        check("every server is ready (database answers, takes writes)",
              all(c == 200 and b["checks"]["database"] == "ok" for c, b in ready), ready)
        names = {call(s["base"], "GET", "/api/v1/health/live")[1]["server"] for s in servers}
        check("each server has a name of its own", len(names) == 3, names)

        # A session made through nginx works on every server; signed out on one, ended on all at once.
        _, login = call(lb, "POST", "/api/v1/auth/login", {"username": "cl_staff", "password": PASSWORD})
        token = login.get("token") if isinstance(login, dict) else None
        check("signing in through nginx", bool(token), login)
        check("the session works on every server",
              all(call(s["base"], "GET", "/api/v1/auth/me", token=token)[0] == 200 for s in servers))
        _, other = call(lb, "POST", "/api/v1/auth/login", {"username": "cl_staff", "password": PASSWORD})
        other_token = other["token"]
        for s in servers:
            call(s["base"], "GET", "/api/v1/auth/me", token=other_token)  # each server now keeps it
        call(servers[0]["base"], "POST", "/api/v1/auth/logout", token=other_token)
        t0 = time.time()
        ended = wait_for("the sign-out on the other servers", lambda: all(
            call(s["base"], "GET", "/api/v1/auth/me", token=other_token)[0] == 401 for s in servers[1:]), 5)
        took = time.time() - t0
        check(f"signed out on one server, refused on the others within {took:.2f} s (cache kept 10 s)",
              ended and took < 2, took)

        # List totals kept on a server are dropped when another server adds an estate.
        def total(s):
            return call(s["base"], "GET", "/api/v1/estates?per_page=1", token=token)[1]["total"]

        before = total(servers[1])
        status, made = call(servers[2]["base"], "POST", "/api/v1/estates", estate("CL-0", community), token=token)
        check("an estate created on server 3", status == 201, made)
        t0 = time.time()
        wait_for("the new total on server 2", lambda: total(servers[1]) == before + 1, 5)
        check(f"server 2's list shows it within {time.time() - t0:.2f} s", time.time() - t0 < 2)

        # Files in the S3-compatible store: filed through one server, read on another, by range too.
        picture = png(300, 200, 7)
        archive = f"/api/v1/estates/{made['id']}/archive"
        fields = [("section", "construction"), ("kind", "photos_during"), ("title", "外墙保温施工")]
        status, doc = upload(servers[0]["base"], archive, token, fields, "wall.png", picture, "image/png")
        check("a photo filed through server 1", status == 201, doc)
        sha = hashlib.sha256(picture).hexdigest()
        on_disk = os.path.join(s3_root, "huanxin-files", "sha256", sha[:2], sha[2:4], sha)
        check("its content is an object in the S3 store, named by its SHA-256, not in the database",
              os.path.exists(on_disk) and open(on_disk, "rb").read() == picture
              and psql(url, f"SELECT stored || ':' || length(content) FROM files WHERE sha256 = '{sha}'") == "object:0")
        file_path = f"/api/v1/documents/{doc['id']}/file"
        status, _, whole = get_bytes(servers[1]["base"], file_path, token)
        check("server 2 serves it whole", status == 200 and whole == picture, status)
        status, headers, part = get_bytes(servers[2]["base"], file_path, token, [("Range", "bytes=100-199")])
        check("server 3 serves a range of it (206, Content-Range)",
              status == 206 and part == picture[100:200] and headers.get("content-range") == f"bytes 100-199/{len(picture)}",
              (status, headers.get("content-range")))
        big_document(work, lb, servers, archive, token, s3_root)
        client_gone_mid_copy(servers[1], archive, token, s3_root, url)
        s3.terminate()
        s3.wait()
        code, ready_now = call(servers[0]["base"], "GET", "/api/v1/health/ready")
        check("with the store down, readiness says the file store cannot be reached",
              code == 503 and ready_now["checks"]["files"] != "ok", ready_now)
        documents = psql(url, "SELECT COUNT(*) FROM documents")
        status, refused = upload(servers[0]["base"], archive, token, fields, "other.png", png(20, 20, 8), "image/png")
        check("an upload with the store down is refused clearly (503) and writes nothing",
              status == 503 and refused.get("code") == "files.unreachable"
              and psql(url, "SELECT COUNT(*) FROM documents") == documents, (status, refused))
        s3 = start_s3()
        # A file kept in the database by an older version: moved out by `huanxin files migrate`.
        old = b"kept in the database before issue 18"
        old_sha = hashlib.sha256(old).hexdigest()
        psql(url, f"INSERT INTO files (sha256, content_type, size, content) VALUES ('{old_sha}', 'text/plain', {len(old)}, "
                  f"decode('{old.hex()}', 'hex'))")
        migrated = subprocess.run([BIN, "files", "migrate"], env=base_env, capture_output=True, text=True)
        moved_to = os.path.join(s3_root, "huanxin-files", "sha256", old_sha[:2], old_sha[2:4], old_sha)
        check("`huanxin files migrate` moves files kept in the database to the store",
              migrated.returncode == 0 and "moved 1 files" in migrated.stdout and os.path.exists(moved_to)
              and open(moved_to, "rb").read() == old
              and psql(url, "SELECT COUNT(*) FROM files WHERE stored = 'database'") == "0", migrated.stdout + migrated.stderr)
        # An object no row names (its transaction failed after the file was staged), two days old:
        # `huanxin files sweep` removes it and keeps every named one, however old.
        stray = hashlib.sha256(b"a stray object").hexdigest()
        stray_path = os.path.join(s3_root, "huanxin-files", "sha256", stray[:2], stray[2:4], stray)
        os.makedirs(os.path.dirname(stray_path), exist_ok=True)
        with open(stray_path, "wb") as f:
            f.write(b"a stray object")
        two_days_ago = time.time() - 2 * 86400
        for d, _, files in os.walk(os.path.join(s3_root, "huanxin-files", "sha256")):
            for name in files:
                os.utime(os.path.join(d, name), (two_days_ago, two_days_ago))
        dry = subprocess.run([BIN, "files", "sweep", "--dry-run"], env=base_env, capture_output=True, text=True)
        swept = subprocess.run([BIN, "files", "sweep"], env=base_env, capture_output=True, text=True)
        check("`huanxin files sweep` removes the object no file names, keeps the named ones",
              "would remove 1 " in dry.stdout and "removed 1 " in swept.stdout and not os.path.exists(stray_path)
              and os.path.exists(moved_to) and os.path.exists(on_disk),
              dry.stdout + dry.stderr + swept.stdout + swept.stderr)

        # The ledger check, a job: one server takes it; it is killed mid-way while writes go on.
        _, fin = call(lb, "POST", "/api/v1/auth/login", {"username": "cl_finance", "password": PASSWORD})
        ftoken = fin["token"]

        # The chains' heads, published by whichever server ran the job, are one object in the
        # store: every server serves the same heads.
        day = wait_for("today's heads published", lambda: call(servers[0]["base"], "GET", "/api/v1/chain-heads", token=ftoken)[1]["date"], 30)
        seen = [call(s["base"], "GET", "/api/v1/chain-heads", token=ftoken)[1] for s in servers]
        check("the chain heads published once are the same on every server, kept in the S3 store",
              all(h == seen[0] and h["heads"] for h in seen)
              and os.path.exists(os.path.join(s3_root, "huanxin-files", "heads", f"{day}.json")), seen[0])
        # A server killed in the middle of receiving a large document: nothing of it is kept (no
        # row, no object, no temporary file left).
        documents, files = psql(url, "SELECT COUNT(*) FROM documents"), psql(url, "SELECT COUNT(*) FROM files")
        partial_sha, spooling = killed_mid_upload(servers[0], archive, token)
        spool_dir = os.path.join(servers[0]["data"], "uploads")
        check("a server killed mid-upload (its temporary file open) keeps nothing of it: no document, no file, no object",
              spooling and psql(url, "SELECT COUNT(*) FROM documents") == documents
              and psql(url, "SELECT COUNT(*) FROM files") == files
              and not os.path.exists(os.path.join(s3_root, "huanxin-files", "sha256", partial_sha[:2], partial_sha[2:4], partial_sha))
              and not (os.path.isdir(spool_dir) and os.listdir(spool_dir)), spooling)
        servers[0] = start(0, servers[0]["port"])

        keyless = subprocess.run([BIN, "files", "sweep", "--dry-run"], env=dict(base_env, HUANXIN_CHAIN_KEY=""),
                                 capture_output=True, text=True)
        check("an S3 deployment without the shared chain_key is refused, saying what to set",
              keyless.returncode != 0 and "chain_key" in keyless.stderr, keyless.stderr[-300:])
        status, job = call(lb, "POST", "/api/v1/ledger/verify/job", {}, token=ftoken)
        check("the ledger check is started through nginx", status == 202 and job["total"] >= LEDGER_ENTRIES, job)
        held = wait_for("a server to take the check", lambda: (lambda j: j if j["running"] and j["walked"] > 0 and j["server"] else None)(
            call(lb, "GET", "/api/v1/ledger/verify/job", token=ftoken)[1]), 60)
        holder_pid = int(held["server"].split(":")[1])
        victim = next((s for s in servers if s["proc"].pid == holder_pid), None)
        check("the check runs on one of the three servers", victim is not None, held)
        acknowledged, refused, stop = [], [], threading.Event()

        def writer():
            n = 0
            while not stop.is_set() and n < 400:
                n += 1
                code = f"CL-{n}"
                s, b = call(lb, "POST", "/api/v1/estates", estate(code, community), token=token, timeout=10)
                (acknowledged if s == 201 else refused).append((code, s, b if s == 201 else str(b)[:200]))

        stream = threading.Thread(target=writer)
        stream.start()
        time.sleep(0.2)
        victim["proc"].send_signal(signal.SIGKILL)
        victim["proc"].wait()
        killed_at = time.time()
        done = wait_for("the check to finish elsewhere", lambda: (lambda j: j if not j["running"] else None)(
            call(lb, "GET", "/api/v1/ledger/verify/job", token=ftoken)[1]), 120)
        stop.set()
        stream.join()
        check(f"another server took the check over and finished it ({time.time() - killed_at:.1f} s after the kill)",
              done["server"] != held["server"] and done["attempts"] == 2 and done["result"]["intact"] is True
              and done["walked"] == done["total"], done)
        finished = psql(url, f"SELECT COUNT(*) FROM audit_log WHERE action = 'job.done' AND entity = 'jobs' "
                             f"AND entity_id = '{done['id']}'")
        check("the check finished exactly once (one outcome recorded)", finished == "1", finished)
        ids = [b["id"] for _, _, b in acknowledged]
        found = psql(url, f"SELECT COUNT(*) FROM estates WHERE id IN ({','.join(map(str, ids)) or '0'})")
        check(f"every acknowledged write is kept ({len(acknowledged)} acknowledged, {len(refused)} refused while a server died)",
              len(acknowledged) > 0 and found == str(len(acknowledged)), (found, refused[:3]))
        check("the session keeps working through nginx with a server down",
              all(call(lb, "GET", "/api/v1/auth/me", token=token)[0] == 200 for _ in range(12)))

        # Periodic jobs: three servers offered this period's run; one row, run once.
        rows = psql(url, "SELECT COUNT(*), COUNT(DISTINCT run_key) FROM jobs WHERE kind = 'requests.supervise'")
        runs = psql(url, "SELECT COUNT(*) FROM audit_log a JOIN jobs j ON a.entity = 'jobs' AND a.entity_id = CAST(j.id AS TEXT) "
                         "WHERE j.kind = 'requests.supervise' AND a.action = 'job.done'")
        n, distinct = rows.split("|")
        check("a periodic job is one run per period in the cluster, not one per server",
              n == distinct and int(n) >= 1 and runs == n, (rows, runs))

        # The MQTT ingest runs on one server at a time; its leader killed, another takes over.
        alive = [s for s in servers if s is not victim]

        def leaders():
            return [s for s in alive if s["proc"].poll() is None
                    and call(s["base"], "GET", "/api/v1/health/ready")[1]["checks"]["broker"] == "ok"]

        leading = wait_for("one server to run the ingest", lambda: leaders() or None, 30)
        standby = [call(s["base"], "GET", "/api/v1/health/ready") for s in alive if s not in leading]
        check("one server runs the MQTT ingest, the other stands by and is ready",
              len(leading) == 1 and all(c == 200 and b["checks"]["broker"] == "standby" for c, b in standby),
              (len(leading), standby))
        # Signed readings published at a steady rate with QoS 1 while the leader is killed.
        def stored():
            return int(psql(url, "SELECT COUNT(*) FROM telemetry"))

        loader = subprocess.Popen([BENCH, "alarms-kill", "127.0.0.1:1883", str(DEVICES), "200", "8"],
                                  env=dict(base_env, HUANXIN_MQTT_TOPIC_ROOT=topic_root,
                                           HUANXIN_BENCH_SENT=os.path.join(work, "sent.txt")),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for("readings stored by the leader", lambda: stored() > 0, 30)
        leading[0]["proc"].send_signal(signal.SIGKILL)
        leading[0]["proc"].wait()
        t0 = time.time()
        took_over = wait_for("another server to take the ingest over", lambda: leaders() or None, 30)
        check(f"the ingest's leader killed, another server runs it {time.time() - t0:.1f} s later",
              len(took_over) == 1 and took_over[0] is not leading[0], took_over)
        out, err = loader.communicate(timeout=90)
        acked = int(out.strip().splitlines()[-1]) if out.strip() else -1
        try:
            wait_for("every acknowledged reading stored", lambda: stored() >= acked, 60)
        except RuntimeError:
            pass
        kept = stored()
        sent = int((re.search(r"sent (\d+)", err) or re.search("(-1)", "-1")).group(1))
        # Every acknowledged reading kept; none kept twice (a reading is unique by device and time).
        detail = err.strip()[-300:]
        if not 0 < acked <= kept <= sent:
            stored_keys = set(psql(url, "SELECT d.serial || ':' || t.at_ms FROM telemetry t JOIN devices d ON d.id = t.device_id")
                              .split())
            missing = [line.replace("\t", ":") for line in open(os.path.join(work, "sent.txt")).read().split("\n")
                       if line and line.replace("\t", ":") not in stored_keys]
            detail += f"; missing {missing[:10]}; dead letters: " + psql(
                url, "SELECT string_agg(code || ' ' || topic || ' ' || payload, ' | ') FROM dead_letters")[:1500]
        check(f"readings across the handover: {sent} sent, {acked} acknowledged by the broker, {kept} stored",
              0 < acked <= kept <= sent, detail)
        check("sessions still work through nginx with two servers down",
              all(call(lb, "GET", "/api/v1/auth/me", token=token)[0] == 200 for _ in range(6)))

        # The two killed servers started again on their ports, then every server's database
        # connections cut at once (what a PostgreSQL restart does to them): requests answer again
        # at once, and the notices between servers come back.
        for i, s in enumerate(servers):
            if s["proc"].poll() is not None:
                servers[i] = start(i, s["port"])
        psql(admin_url, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}' "
                        "AND pid <> pg_backend_pid()")
        after_cut = [call(s["base"], "GET", "/api/v1/auth/me", token=token)[0] for s in servers]
        check("after the database cut every connection, the next request on each server is answered",
              after_cut == [200, 200, 200], after_cut)
        _, cut = call(lb, "POST", "/api/v1/auth/login", {"username": "cl_staff", "password": PASSWORD})
        for s in servers:
            call(s["base"], "GET", "/api/v1/auth/me", token=cut["token"])
        call(servers[1]["base"], "POST", "/api/v1/auth/logout", token=cut["token"])
        t0 = time.time()
        try:
            wait_for("the sign-out told after the cut", lambda: all(
                call(s["base"], "GET", "/api/v1/auth/me", token=cut["token"])[0] == 401 for s in servers), 10)
        except RuntimeError:
            pass
        check(f"the servers hear each other again after the cut (a sign-out reached all in {time.time() - t0:.2f} s)",
              time.time() - t0 < 5)


        # Metrics.
        survivor = took_over[0]
        status, text = call(survivor["base"], "GET", "/metrics")
        check("/metrics counts requests by route and the job queue",
              status == 200 and 'huanxin_http_requests_total{method="GET",route="/api/v1/auth/me",status="2xx"}' in text
              and 'huanxin_jobs{state="queued"}' in text and "huanxin_db_connections" in text, str(text)[:300])
    finally:
        for s in servers:
            if s["proc"].poll() is None:
                s["proc"].terminate()
        for s in servers:
            try:
                s["proc"].wait(timeout=20)
            except subprocess.TimeoutExpired:
                s["proc"].kill()
        if nginx:
            nginx.terminate()
            nginx.wait()
        if s3:
            s3.terminate()
            s3.wait()
        if any(not r for r in results):
            for i in range(3):
                p = os.path.join(work, f"server{i}.log")
                if os.path.exists(p):
                    print(f"--- server {i} log (tail)")
                    print("".join(open(p).readlines()[-20:]))
        try:
            psql(admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        except subprocess.CalledProcessError:
            pass

    sqlite_second_server_refused(work)
    shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def peak_rss_mb(pid):
    """A process's highest resident memory so far (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def big_document(work, lb, servers, archive, token, s3_root):
    """A 300 MiB drawing filed through nginx: streamed to the S3 store a part at a time, never whole
    in a server's memory, and read back whole and by range."""
    size = 300 << 20
    path = os.path.join(work, "drawing.png")
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        head = png(4, 4, 1)
        f.write(head)
        digest.update(head)
        left = size - len(head)
        while left:
            block = os.urandom(min(left, 4 << 20))
            f.write(block)
            digest.update(block)
            left -= len(block)
    sha = digest.hexdigest()
    before = [peak_rss_mb(s["proc"].pid) for s in servers]
    t0 = time.time()
    out = subprocess.run(["curl", "-sS", "-H", "Authorization: Bearer " + token, "-F", "section=plan",
                          "-F", "kind=other", "-F", f"file=@{path};type=image/png", lb + archive],
                         capture_output=True, text=True)
    took = time.time() - t0
    doc = json.loads(out.stdout or "null") or {}
    grew = max(peak_rss_mb(s["proc"].pid) - b for s, b in zip(servers, before))
    check(f"a {size >> 20} MiB drawing filed through nginx in {took:.1f} s, its server's peak memory up {grew:.0f} MiB",
          doc.get("sha256") == sha and doc.get("size") == size and grew < 64, (out.stdout[:300], out.stderr[:300], grew))
    on_disk = os.path.join(s3_root, "huanxin-files", "sha256", sha[:2], sha[2:4], sha)
    check("the drawing is one object in the S3 store (a multipart upload), whole",
          os.path.exists(on_disk) and os.path.getsize(on_disk) == size)
    file_path = f"/api/v1/documents/{doc.get('id')}/file"
    got = os.path.join(work, "drawing-back.png")
    back = subprocess.run(["curl", "-sS", "-o", got, "-w", "%{http_code}", "-H", "Authorization: Bearer " + token,
                           servers[1]["base"] + file_path], capture_output=True, text=True)
    same = back.stdout == "200" and hashlib.sha256(open(got, "rb").read()).hexdigest() == sha
    status, headers, tail = get_bytes(servers[2]["base"], file_path, token, [("Range", f"bytes={size - 1000}-")])
    with open(path, "rb") as f:
        f.seek(size - 1000)
        expected_tail = f.read()
    check("read back whole from another server, and its last 1000 bytes by range",
          same and status == 206 and tail == expected_tail, (back.stdout, status))
    # The estate's archive as a zip: the drawing copied into it a part at a time.
    zipped = os.path.join(work, "archive.zip")
    before = peak_rss_mb(servers[2]["proc"].pid)
    out = subprocess.run(["curl", "-sS", "-o", zipped, "-w", "%{http_code}", "-H", "Authorization: Bearer " + token,
                          servers[2]["base"] + archive + "/export.zip"], capture_output=True, text=True)
    grew = peak_rss_mb(servers[2]["proc"].pid) - before
    import zipfile
    sizes = [i.file_size for i in zipfile.ZipFile(zipped).infolist()] if out.stdout == "200" else []
    check(f"the estate's archive zip holds the drawing whole, its server's peak memory up {grew:.0f} MiB",
          size in sizes and grew < 64, (out.stdout, out.stderr[-200:], grew))
    for p in (path, got, zipped):
        os.remove(p)


def start_raw_upload(server, archive, token, size, seed):
    """Opens a document upload of `size` bytes (one 1 MiB block, a PNG at its start, sent
    size >> 20 times) straight to `server` over a socket and sends the request's head: answers the
    socket, the document's SHA-256, the block and the form's closing bytes, for the caller to send."""
    boundary = "hxraw" + str(random.getrandbits(64))
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="section"\r\n\r\nplan\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="raw.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = png(4, 4, seed) + os.urandom((1 << 20) - len(png(4, 4, seed)))
    digest = hashlib.sha256()
    for _ in range(size >> 20):
        digest.update(block)
    conn = socket.create_connection(("127.0.0.1", server["port"]))
    conn.sendall((f"POST {archive} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                  f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n").encode() + head)
    return conn, digest.hexdigest(), block, tail


def client_gone_mid_copy(server, archive, token, s3_root, url):
    """Sends a whole 160 MiB document to `server` and resets the connection once the server has
    begun writing it to S3 a part at a time: the copy, in a task of its own, still ends and leaves
    no multipart upload's parts behind; the object, which no row names, waits for the sweep."""
    size = 160 << 20
    documents = psql(url, "SELECT COUNT(*) FROM documents")
    uploads = lambda: [n for n in os.listdir(s3_root) if n.startswith(".upload")]
    before = set(uploads())
    conn, sha, block, tail = start_raw_upload(server, archive, token, size, 3)
    for _ in range(size >> 20):
        conn.sendall(block)
    conn.sendall(tail)
    copying = False
    end = time.time() + 60
    while time.time() < end and not copying:
        copying = bool(set(uploads()) - before)
        time.sleep(0.002)
    # A reset, not a polite close: the server learns at once that its client is gone.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    on_disk = os.path.join(s3_root, "huanxin-files", "sha256", sha[:2], sha[2:4], sha)
    try:
        wait_for("the copy to end", lambda: not (set(uploads()) - before) and os.path.exists(on_disk), 60)
    except RuntimeError:
        pass
    check("a client gone while its document is written to S3: the copy still ends, no multipart parts are left, "
          "no document is filed (the object waits for the sweep)",
          copying and not (set(uploads()) - before) and os.path.exists(on_disk) and os.path.getsize(on_disk) == size
          and psql(url, "SELECT COUNT(*) FROM documents") == documents, (copying, uploads()))
    if os.path.exists(on_disk):
        os.remove(on_disk)


def killed_mid_upload(server, archive, token):
    """Sends 60 MiB of a 200 MiB document straight to `server`, SIGKILLs it, and answers the
    document's SHA-256 (of what it would have been) and whether the server held an unlinked
    temporary file for it when killed."""
    size, sent_before_kill = 200 << 20, 60 << 20
    conn, sha, block, _ = start_raw_upload(server, archive, token, size, 2)
    for _ in range(sent_before_kill >> 20):
        conn.sendall(block)
    pid = server["proc"].pid
    spooling = False
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        spooling = spooling or ("uploads" in target and "(deleted)" in target)
    server["proc"].send_signal(signal.SIGKILL)
    server["proc"].wait()
    conn.close()
    return sha, spooling


def estate(code, community):
    return {"code": code, "name": f"集群测试{code}", "community_code": community, "build_year": 1992, "households": 40,
            "floor_area_m2": 3200.5, "lon": 118.8, "lat": 25.03, "ownership_type": "房改房", "phone": "13812345678"}


def sqlite_second_server_refused(work):
    data = os.path.join(work, "sqlite")
    env = dict(os.environ, HUANXIN_DATA_DIR=data, HUANXIN_REGIONS="350521", HUANXIN_LOG="warn")
    env.pop("HUANXIN_DATABASE_URL", None)
    port = free_port()
    first = subprocess.Popen([BIN, "serve"], env=dict(env, HUANXIN_BIND=f"127.0.0.1:{port}"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("the SQLite server", lambda: call(f"http://127.0.0.1:{port}", "GET", "/api/v1/health/live")[0] == 200)
        second = subprocess.run([BIN, "serve"], env=dict(env, HUANXIN_BIND=f"127.0.0.1:{free_port()}"),
                                capture_output=True, text=True, timeout=60)
        said = second.stdout + second.stderr
        check("a second server on one SQLite file is refused, saying why",
              second.returncode != 0 and "another huanxin process" in said and "PostgreSQL" in said, said[-300:])
    finally:
        first.terminate()
        first.wait()


if __name__ == "__main__":
    sys.exit(main())
