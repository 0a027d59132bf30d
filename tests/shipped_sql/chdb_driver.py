"""Current ClickHouse for the tests: one in-process chDB session behind a pipe.

tests/shipped_sql/chdb.rs starts this with the Python of target/chdb-venv
(ops/test.sh installs the pinned chdb-core there) and talks JSON lines:

    request:  {"sql": "..."}                   one statement, data may follow an INSERT's FORMAT
    reply:    {"ok": true, "body": "..."}      the statement's output (its FORMAT clause decides)
              {"ok": false, "error": "..."}    ClickHouse's exception text

The first line out says what runs: {"ready": true, "chdb": ..., "server": ...}.
The session's tables live in a temporary directory removed when stdin closes
(the test process ends, however it ends).
"""

import json
import os
import shutil
import sys
import tempfile


def main():
    # Replies go to a private copy of stdout; fd 1 itself goes to stderr so
    # that nothing the native library prints can corrupt the protocol.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    import chdb
    from chdb import session

    data_dir = tempfile.mkdtemp(prefix="mable-chdb-")
    sess = session.Session(data_dir)
    try:
        server = sess.query("SELECT version()", "TSV").bytes().decode().strip()
        reply(replies, {"ready": True, "chdb": chdb.__version__, "server": server})
        for line in sys.stdin:
            if not line.strip():
                continue
            sql = json.loads(line)["sql"]
            try:
                body = sess.query(sql, "TSV").bytes().decode("utf-8", "replace")
                reply(replies, {"ok": True, "body": body})
            except Exception as e:  # ClickHouse's own error, passed on verbatim
                reply(replies, {"ok": False, "error": str(e)})
    finally:
        sess.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def reply(out, message):
    out.write(json.dumps(message) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
