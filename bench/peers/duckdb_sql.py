"""DuckDB SQL on two threads: a native engine as the reference.

    python duckdb_sql.py WORKLOAD CORPUS OUT_DIR

Each line is read as one VARCHAR column (the delimiter is a control byte the
corpus never holds), lower-cased, split with ``regexp_extract_all`` and
unnested; the words are then grouped in SQL.
"""

from __future__ import annotations

import os

import duckdb
from results_io import TOP, corpus_files, peer_parser

THREADS = 2

LINES = """
    SELECT line, regexp_extract(filename, '[^/]+$') AS name
    FROM read_csv($paths, columns = {'line': 'VARCHAR'}, header = false, delim = '\x01',
                  quote = '', escape = '', auto_detect = false, filename = true)
"""
WORDS = f"SELECT unnest(regexp_extract_all(lower(line), '[a-z]+')) AS word, name FROM ({LINES})"
COUNTS = f"SELECT word, count(*) AS n FROM ({WORDS}) GROUP BY word"

QUERIES = {
    "wordcount": COUNTS,
    "indexer": f"""
        SELECT word, array_to_string(list_sort(list(DISTINCT name)), ' ') AS names
        FROM ({WORDS}) GROUP BY word
    """,
    "topwords": f"SELECT word, n FROM ({COUNTS}) ORDER BY n DESC, word LIMIT {TOP}",
}


def run(workload: str, paths: list[str], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    target = os.path.join(out, "result.tsv").replace("'", "''")
    con.execute(f"COPY ({QUERIES[workload]}) TO '{target}' (FORMAT csv, DELIMITER '\t', HEADER false, QUOTE '')", {"paths": paths})


def main() -> None:
    parser = peer_parser(__doc__, sorted(QUERIES))
    args = parser.parse_args()
    run(args.workload, corpus_files(args.corpus), args.out)


if __name__ == "__main__":
    main()
