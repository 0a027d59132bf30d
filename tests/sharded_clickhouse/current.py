"""Current ClickHouse (chdb-core, in-process) with a server config file:
runs the JSON list of statements on stdin in one session and prints a JSON
list of results, one per statement: {"ok": true, "rows": [[cell, ...], ...]}
or {"ok": false, "error": "..."}. Cells are strings.

Used by tests/sharded_clickhouse.rs: argv[1] is the config file (the
recipe's remote_servers.xml), which chdb reads like a server's config.xml.
"""

import json
import os
import sys


def main():
    # Results go to a private copy of stdout; fd 1 itself goes to stderr so
    # that nothing the native library prints can corrupt them.
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    import chdb

    conn = chdb.connect(f":memory:?config-file={sys.argv[1]}")
    cur = conn.cursor()
    out = []
    for sql in json.load(sys.stdin):
        try:
            cur.execute(sql)
            rows = cur.fetchall() or []
            out.append({"ok": True, "rows": [[str(c) for c in r] for r in rows]})
        except Exception as e:  # the statement's error, reported to the test
            out.append({"ok": False, "error": str(e)})
    json.dump(out, results)
    results.close()


if __name__ == "__main__":
    main()
