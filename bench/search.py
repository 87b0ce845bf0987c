"""Benchmark of the per-tagset search selector at catalog sizes of 100k and 1M vectors.

    .venv/bin/python bench/search.py --sizes 100000 1000000 --out var/bench/search.json

Each size loads synthetic products into a PostgreSQL of its own (embedded, under
var/bench, unless DATABASE_URL is set): 256-d unit vectors drawn around 75 article-type
centres whose sizes follow the skew of the sample catalog (a few types hold most
products), one article-type tag per product. Embeddings of real models have a low
intrinsic dimension: the vectors are drawn in a 24-d latent space (type centres plus
spread) and mapped into 256-d by a random orthonormal projection, plus a little
isotropic noise; iid 256-d Gaussian noise would make all points nearly equidistant,
which no learned embedding does. For the same queries (a catalog vector plus
noise, filtered by its own article type, k=20) and each ``--ef-search`` it measures:

- the selector (``shop.selectors.similar_products``: iterative HNSW scan, exact fallback);
- the naive filtered HNSW query (the index's ``ef_search`` candidates, then the filter);
- exact search over the same filter, the ground truth for recall@20 (run once per query:
  it does not depend on ef_search).

Reported per method: median and p95 latency (ms), mean recall@20, and the share of
queries that returned fewer than 20 rows. Timings are wall-clock on a shared machine:
compare methods within one run.

Beside them (``--in-process faiss``, the default; ``bench/ann.py``) the same vectors,
queries and filter are answered inside this process: numpy exact search, FAISS HNSW per
article type and one global FAISS HNSW with an id filter, with their build time and
index bytes. The database's own size is reported too (embedding table, its indexes, and
both scaled to 100k products).

Loading: every HNSW index on the embedding table is dropped before the rows go in
(pgvector would otherwise insert each row into the graph one by one: 513 s for 100k
here before this change), rows go in with binary COPY in one transaction, and the HNSW
index is built once at the end with a large ``maintenance_work_mem``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

DIMENSION = 256
ARTICLE_TYPES = 75
K = 20


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--in-process",
        choices=("faiss", "none"),
        default="faiss",
        help="also answer the same queries with in-process indexes (bench/ann.py)",
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "var" / "bench" / "search.json")
    return parser.parse_args()


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopalook.settings.dev")
    os.environ.setdefault("VAR_DIR", str(PROJECT_ROOT / "var" / "bench"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


LATENT_DIMENSION = 24


def synthetic_catalog(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (size, 256) float32 unit norm, article type per product)."""
    shares = 1.0 / np.arange(1, ARTICLE_TYPES + 1) ** 1.1  # Zipf-like, as in the catalog
    types = rng.choice(ARTICLE_TYPES, size=size, p=shares / shares.sum())
    centres = rng.normal(size=(ARTICLE_TYPES, LATENT_DIMENSION)) * 1.5
    latent = centres[types] + rng.normal(size=(size, LATENT_DIMENSION))  # (size, 24)
    projection, _ = np.linalg.qr(rng.normal(size=(DIMENSION, LATENT_DIMENSION)))  # (256, 24)
    vectors = latent @ projection.T + rng.normal(scale=0.05, size=(size, DIMENSION))
    vectors = vectors.astype(np.float32)  # (size, 256)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, types


def load(vectors: np.ndarray, types: np.ndarray):
    """Replace the catalog with these products; returns (model version, tag ids)."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from shop.models import ModelVersion, Tag
    from shop.services.embeddings import ensure_vector_index, vector_index_name

    with connection.cursor() as cursor:
        drop_vector_indexes(cursor)
        cursor.execute(
            "TRUNCATE shop_productembedding, shop_productimage, shop_product_tags, shop_product,"
            " shop_tag, shop_modelversion RESTART IDENTITY CASCADE"
        )
    version = ModelVersion.objects.create(
        name="bench-256d",
        source="bench",
        weights_sha256="0" * 64,
        embedding_dimension=DIMENSION,
        status=ModelVersion.Status.ACTIVE,
    )
    tags = Tag.objects.bulk_create(
        Tag(kind=Tag.Kind.ARTICLE_TYPE, name=f"type {index:02d}") for index in range(ARTICLE_TYPES)
    )
    tag_ids = np.array([tag.pk for tag in tags])
    connection.ensure_connection()
    register_vector(connection.connection)
    size = len(vectors)
    with connection.cursor() as cursor:
        copy_rows(
            cursor,
            "shop_product (id, sku, title, brand, currency, product_url, is_active,"
            " created_at, updated_at)",
            (
                (i + 1, f"SKU{i}", f"product {i}", "", "", "", True, "now", "now")
                for i in range(size)
            ),
        )
        copy_rows(
            cursor,
            "shop_productimage (id, product_id, image, sha256, is_primary, created_at, updated_at)",
            ((i + 1, i + 1, f"x/{i}.jpg", f"{i:064d}", True, "now", "now") for i in range(size)),
        )
        copy_rows(
            cursor,
            "shop_product_tags (product_id, tag_id)",
            ((i + 1, int(tag_ids[types[i]])) for i in range(size)),
        )
        with cursor.copy(
            "COPY shop_productembedding (image_id, model_version_id, status, image_sha256,"
            " vector, predicted_tags, error, attempts, updated_at) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                [
                    "int8",
                    "int8",
                    "varchar",
                    "varchar",
                    "vector",
                    "jsonb",
                    "text",
                    "int2",
                    "timestamptz",
                ]
            )
            now = time.time()
            from datetime import UTC, datetime

            stamp = datetime.fromtimestamp(now, UTC)
            for i in range(size):
                copy.write_row(
                    (i + 1, version.pk, "done", f"{i:064d}", vectors[i], "{}", "", 1, stamp)
                )
        cursor.execute(f"DROP INDEX IF EXISTS {vector_index_name(version)}")
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        started = time.perf_counter()
        ensure_vector_index(version)
        index_seconds = time.perf_counter() - started
        cursor.execute("ANALYZE")
        sizes = database_sizes(cursor, vector_index_name(version), size)
    return version, tag_ids, index_seconds, sizes


def drop_vector_indexes(cursor) -> None:
    """Drop the HNSW indexes of earlier runs: COPY would otherwise update them row by row."""
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'shop_productembedding'"
        " AND indexdef ILIKE '%USING hnsw%'"
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def database_sizes(cursor, index_name: str, products: int) -> dict[str, int]:
    """Bytes of the embedding table (heap + TOAST), its indexes, the HNSW index alone."""
    cursor.execute(
        "SELECT pg_total_relation_size('shop_productembedding'),"
        " pg_table_size('shop_productembedding'), pg_indexes_size('shop_productembedding'),"
        " pg_relation_size(%s::regclass)",
        [index_name],
    )
    total, table, indexes, hnsw = cursor.fetchone()
    return {
        "embedding_table_bytes": total,  # table + TOAST + every index, as before
        "embedding_heap_bytes": table,
        "embedding_indexes_bytes": indexes,
        "hnsw_index_bytes": hnsw,
        "embedding_table_bytes_per_100k": round(total * 100_000 / products),
    }


def copy_rows(cursor, target: str, rows) -> None:
    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def make_queries(
    vectors: np.ndarray, types: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(queries (count, 256) float32, article type of each): catalog vectors plus noise."""
    picks = rng.choice(len(vectors), size=count, replace=False)
    noise = np.stack([rng.normal(scale=0.02, size=DIMENSION) for _ in picks])  # (count, 256)
    return (vectors[picks] + noise.astype(np.float32)).astype(np.float32), types[picks]


def query_parameters(query: np.ndarray, tag_id: int) -> dict:
    return {
        "query": "[" + ",".join(map(repr, map(float, query))) + "]",
        "tags": [tag_id],
        "tag_count": 1,
        "exclude": [],
    }


def timed_sql(version, parameters: dict, *, exact: bool, ef_search: int) -> tuple[float, list]:
    """(milliseconds, product ids) of the exact or the naive filtered HNSW query."""
    from django.db import connection, transaction

    from shop.selectors.search import _sql

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        if not exact:  # the same plan as the selector, without iterating
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
        sql = _sql(version, parameters, exact=exact, limit=K)
        started = time.perf_counter()
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
        milliseconds = (time.perf_counter() - started) * 1000
    return milliseconds, [row[0] for row in rows]


def run_exact(version, queries, query_types, tag_ids) -> tuple[list[float], list[list]]:
    """Exact search once per query (it ignores ef_search): (timings, ground truth)."""
    timings, truths = [], []
    for query, kind in zip(queries, query_types, strict=True):
        parameters = query_parameters(query, int(tag_ids[kind]))
        milliseconds, found = timed_sql(version, parameters, exact=True, ef_search=40)
        timings.append(milliseconds)
        truths.append(found)
    return timings, truths


def run_queries(version, queries, query_types, tag_ids, ef_search, exact) -> dict:
    """The selector and the naive HNSW query at one ef_search, against `exact` (run_exact)."""
    from shop.selectors import TagRequirement, similar_products

    count = len(queries)
    exact_timings, truths = exact
    timings: dict[str, list[float]] = {"selector": [], "naive_hnsw": [], "exact": exact_timings}
    recalls: dict[str, list[float]] = {"selector": [], "naive_hnsw": []}
    short = {"selector": 0, "naive_hnsw": 0, "exact": sum(len(t) < K for t in truths)}
    for query, kind, truth in zip(queries, query_types, truths, strict=True):
        tag_id = int(tag_ids[kind])
        milliseconds, naive = timed_sql(
            version, query_parameters(query, tag_id), exact=False, ef_search=ef_search
        )
        timings["naive_hnsw"].append(milliseconds)
        started = time.perf_counter()
        found = similar_products(
            vector=query,
            model_version=version,
            k=K,
            required_tags=[TagRequirement(tag_id)],
            ef_search=ef_search,
        )
        timings["selector"].append((time.perf_counter() - started) * 1000)
        results = {"naive_hnsw": naive, "selector": [hit.product_id for hit in found.products]}
        for method, ids in results.items():
            recalls[method].append(len(set(truth) & set(ids)) / max(1, len(truth)))
            short[method] += len(ids) < K
    return {
        method: {
            "latency_ms_median": round(statistics.median(values), 2),
            "latency_ms_p95": round(float(np.percentile(values, 95)), 2),
            "recall_at_20": round(float(np.mean(recalls[method])), 4) if method in recalls else 1.0,
            "share_short_of_k": round(short[method] / count, 4),
        }
        for method, values in timings.items()
    }


def main() -> None:
    arguments = parse_arguments()
    setup_django()
    from django.db import connection

    rng = np.random.default_rng(arguments.seed)
    report = {
        "benchmark": "per-tagset search, k=20",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "dimension": DIMENSION,
        "article_types": ARTICLE_TYPES,
        "queries": arguments.queries,
        "sizes": {},
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version(), (SELECT extversion FROM pg_extension WHERE extname='vector')"
        )
        report["postgres"], report["pgvector"] = cursor.fetchone()
    for size in arguments.sizes:
        print(f"size {size}: generating and loading ...", flush=True)
        vectors, types = synthetic_catalog(size, rng)
        started = time.perf_counter()
        version, tag_ids, index_seconds, sizes = load(vectors, types)
        load_seconds = time.perf_counter() - started
        print(
            f"size {size}: loaded in {load_seconds:.0f} s (index {index_seconds:.0f} s); "
            "querying ...",
            flush=True,
        )
        # The same queries for every setting and method.
        queries, query_types = make_queries(
            vectors, types, arguments.queries, np.random.default_rng(arguments.seed + 1)
        )
        exact = run_exact(version, queries, query_types, tag_ids)
        result = report["sizes"][str(size)] = {
            "load_seconds": round(load_seconds, 1),
            "index_build_seconds": round(index_seconds, 1),
            **sizes,
            "smallest_tag_share": round(float(np.bincount(types).min() / size), 5),
            "by_ef_search": {
                str(ef): run_queries(version, queries, query_types, tag_ids, ef, exact)
                for ef in arguments.ef_search
            },
        }
        if arguments.in_process != "none":
            print(f"size {size}: in-process indexes ...", flush=True)
            result["in_process"] = in_process(vectors, types, queries, query_types, arguments)
        print(json.dumps(result, indent=2), flush=True)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=2))
    print(f"written {arguments.out}")


def in_process(vectors, types, queries, query_types, arguments) -> dict:
    """The in-process comparison, or the reason it could not run (the DB rows stand)."""
    try:
        from bench.ann import compare_in_process

        return compare_in_process(
            vectors, types, queries, query_types, k=K, ef_search_values=arguments.ef_search
        )
    except ImportError as error:
        return {"error": f"{error} (pip install faiss-cpu)"}
    except Exception as error:  # keep the database's figures when FAISS fails
        logging.getLogger(__name__).exception("in-process comparison failed")
        return {"error": f"{type(error).__name__}: {error}"}


if __name__ == "__main__":
    main()
