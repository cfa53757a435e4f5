"""PySpark on ``local[2]``, with reduceByKey as the Spark docs write it.

    python spark.py WORKLOAD CORPUS OUT_DIR

The index reads whole files with wholeTextFiles, so each file's name is known;
top-20 ranks the counts with takeOrdered, on the driver.
"""

from __future__ import annotations

import operator
import os
import sys
import tempfile
from collections.abc import Iterator

from pyspark import SparkConf, SparkContext
from results_io import TOP, corpus_files, peer_parser, rank_key, write_counts
from tokenize_shared import tokenize

MASTER = "local[2]"


def context() -> SparkContext:
    # The Python workers must be this interpreter (the bench venv), not "python3" on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Shuffle files go to the run's TMPDIR, which the harness removes; the JVM would pick /tmp.
    os.environ.setdefault("SPARK_LOCAL_DIRS", tempfile.gettempdir())
    conf = (
        SparkConf()
        .setMaster(MASTER)
        .setAppName("mrargo-bench")
        .set("spark.ui.enabled", "false")
        .set("spark.ui.showConsoleProgress", "false")
    )
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    return sc


def file_words(item: tuple[str, str]) -> Iterator[tuple[str, list[str]]]:
    path, text = item
    name = path.rsplit("/", 1)[-1]
    for word in set(tokenize(text)):
        yield word, [name]


def run(sc: SparkContext, workload: str, paths: list[str], out: str) -> None:
    if workload == "indexer":
        pairs = sc.wholeTextFiles(",".join(paths)).flatMap(file_words)
        index = pairs.reduceByKey(operator.add).mapValues(sorted)
        index.map(lambda kv: f"{kv[0]}\t{' '.join(kv[1])}").saveAsTextFile(out)
        return
    counts = sc.textFile(",".join(paths)).flatMap(tokenize).map(lambda w: (w, 1)).reduceByKey(operator.add)
    if workload == "wordcount":
        counts.map(lambda kv: f"{kv[0]}\t{kv[1]}").saveAsTextFile(out)
        return
    top = counts.takeOrdered(TOP, key=rank_key)
    os.makedirs(out, exist_ok=True)
    write_counts(os.path.join(out, "top.txt"), top)


def main() -> None:
    parser = peer_parser(__doc__)
    args = parser.parse_args()
    sc = context()
    try:
        run(sc, args.workload, corpus_files(args.corpus), args.out)
    finally:
        sc.stop()


if __name__ == "__main__":
    main()
