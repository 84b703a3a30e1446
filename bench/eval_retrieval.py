"""Retrieval and answers, evaluated on every question set at once, through the app's own code.

    bench/eval_retrieval [--questions FILE [--docs FOLDER]]... [--keep DIR] [--k 10] [--scale 100000]
                         [--ask-limit N] [--llm URL --llm-model NAME] [--json FILE]

Why: a retrieval or answer change is taken only when it helps every set; a parameter chosen on one
set is a finding to check on the others. Default sets: `../shared/corpus/qa-10q` (SEC filings,
document-level judgements) and `../shared/corpus/ohr-manual` (manuals, page-level judgements and
reference answers). `--questions` may be given several times (each with its own `--docs`, else the
`docs` folder beside it): the qa-10q CSV format or JSONL of `{"question", "answer"?, "relevant":
[{"document": NAME_OR_GLOB, "page"?: N}]}`.

What it does, in order:
1. Starts its own Redis, Chroma server and Celery worker on a scratch directory (the helpers of
   `bench/ingest.py`) and ingests each set's documents through the real workers, one collection
   per set. With `--keep DIR` an ingestion already there is reused while the ingestion code is
   unchanged (re-runs take seconds).
2. Retrieval, per set: every question through `chunks_search` (the code path of
   `/api/v1/search`) with each method — dense, lexical, hybrid — as an ordinary user with a read
   grant, k=10, plus a plain BM25 (k1 1.2, b 0.75, lower-case alphanumeric tokens) over the app's
   own page texts of that collection, read from its database: the baseline any method must meet.
   Document-level metrics always, page-level where the set names pages (`eval_sets.py`).
3. Answers (`eval_answers.py`): every set's questions asked of their own collection (declined,
   gold page cited, answer text present) and of every other set's collection only (refused);
   every quote of every answer is checked to be verbatim on the page it cites. The extractive
   backend unless `--llm` names an OpenAI-compatible server.
4. Says, target by target, whether each holds: hybrid >= dense and >= lexical on every metric of
   every set (ties within 0.005); hybrid page hit@5 >= the baseline's on every set with pages;
   refusal >= 0.95 and declined <= 0.05; no quote that is not verbatim.
5. With `--scale N` (default 100000; 0 skips), a synthetic corpus of N chunks (`eval_scale.py`)
   and the search latencies on it against the raw Chroma query and the raw encode (hybrid also with
   its two legs one after the other); then (`eval_load.py`, `--load-searchers 20 --load-seconds 60`;
   0 skips) the app served as `make run` serves it, on loopback, searched by that many concurrent
   API clients: throughput, p50/p95/p99 and errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval_answers import AskResult, ask_all, ask_line, threshold_lines
from eval_load import load_phase
from eval_scale import METHODS, scale_phase
from eval_sets import (
    Judged,
    PlainBM25,
    Question,
    first_appearances,
    judge,
    latency,
    mean_metrics,
    metric_line,
    ranking_metrics,
    read_questions,
)
from eval_stack import (
    FINGERPRINT_FILE,
    Stack,
    clear_scratch,
    code_fingerprint,
    collection_name_for,
    embedder_line,
    eval_user,
    exit_on_sigterm,
    grant_read,
    ingest_folder,
    load_bench_ingest,
    lock_scratch,
    machine_line,
    stale_because,
    stop,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ingest.models import Collection, Document
    from search.retrieval import SearchFilters, SearchHit

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_SETS = (
    CORPUS / "qa-10q" / "sec-10-q" / "data" / "v1" / "qna_data.csv",
    CORPUS / "ohr-manual" / "questions.jsonl",
)
BASELINE = "bm25-baseline"
TOLERANCE = 0.005
TARGET_REFUSAL = 0.95
TARGET_DECLINED = 0.05


# --- one question set ----------------------------------------------------------------------------


@dataclass
class EvalSet:
    name: str
    questions_path: Path
    folder: Path
    questions: list[Question] = field(default_factory=list)
    collection: Collection | None = None
    documents: list[Document] = field(default_factory=list)
    judged: list[Judged] = field(default_factory=list)
    results: dict[str, MethodResult] = field(default_factory=dict)

    @property
    def has_pages(self) -> bool:
        return any(item.pages for item in self.judged)


def set_name(path: Path) -> str:
    for part in reversed(path.resolve().parts[:-1]):
        if part not in ("data", "v1", "sec-10-q", "docs"):
            return part
    return path.stem


@dataclass
class MethodResult:
    document_metrics: dict[str, float]
    page_metrics: dict[str, float]
    timing: dict[str, float]


def timed_search(user: User, query: str, k: int, method: str, filters: SearchFilters) -> tuple[list[SearchHit], float]:
    from search.retrieval import chunks_search

    started = time.perf_counter()
    hits = chunks_search(user=user, query=query, k=k, method=method, filters=filters)
    return hits, (time.perf_counter() - started) * 1000


def evaluate_method(method: str, judged: Sequence[Judged], user: User, k: int, filters: SearchFilters) -> MethodResult:
    from tqdm import tqdm

    timed_search(user, judged[0].question.text, k, method, filters)  # warm-up (model load, caches)
    document_rows, page_rows, samples = [], [], []
    for item in tqdm(judged, desc=method, unit="q", file=sys.stderr):
        hits, elapsed = timed_search(user, item.question.text, k, method, filters)
        samples.append(elapsed)
        documents = first_appearances(hit.chunk.document_id for hit in hits)
        document_rows.append(ranking_metrics(documents, item.documents))
        if item.pages:
            pages = first_appearances((hit.chunk.document_id, hit.page) for hit in hits if hit.page is not None)
            page_rows.append(ranking_metrics(pages, item.pages))
    return MethodResult(mean_metrics(document_rows), mean_metrics(page_rows), latency(samples))


def evaluate_baseline(judged: Sequence[Judged], collection: Collection, k: int) -> MethodResult:
    """The plain BM25 over the collection's page texts as the app stores them (`ingest.Page`)."""
    from ingest.models import Page

    pages = list(
        Page.objects.filter(document__collection=collection, document__is_latest=True).values_list(
            "document_id", "number", "text"
        )
    )
    index = PlainBM25([text for _, _, text in pages])
    document_rows, page_rows, samples = [], [], []
    for item in judged:
        started = time.perf_counter()
        ranked = [pages[u] for u in index.ranked(item.question.text, k)]
        samples.append((time.perf_counter() - started) * 1000)
        document_rows.append(ranking_metrics(first_appearances(d for d, _, _ in ranked), item.documents))
        if item.pages:
            page_rows.append(ranking_metrics([(d, n) for d, n, _ in ranked if n is not None], item.pages))
    return MethodResult(mean_metrics(document_rows), mean_metrics(page_rows), latency(samples))


# --- the run -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, action="append", help="a question set (repeatable)")
    parser.add_argument("--docs", type=Path, action="append", help="its documents (default: `docs` beside it)")
    parser.add_argument("--keep", type=Path, help="scratch directory to keep, and to reuse if it holds an ingestion")
    parser.add_argument("--k", type=int, default=10, help="hits asked of each search (default 10)")
    parser.add_argument("--scale", type=int, default=100_000, help="synthetic chunks for the latency test (0: skip)")
    parser.add_argument("--scale-queries", type=int, default=100, help="questions timed at scale (default 100)")
    parser.add_argument(
        "--load-searchers", type=int, default=20, help="concurrent searchers against the served app at scale (0: skip)"
    )
    parser.add_argument("--load-seconds", type=float, default=60, help="how long they search (default 60)")
    parser.add_argument("--ask-limit", type=int, default=0, help="questions asked per set and direction (0: all)")
    parser.add_argument("--llm", help="an OpenAI-compatible server for the answers (default: extractive)")
    parser.add_argument("--llm-model", default="", help="the model it serves (with --llm)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes for ingestion (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here, as JSON")
    args = parser.parse_args()
    paths = [p.resolve() for p in (args.questions or [p for p in DEFAULT_SETS if p.is_file()])]
    if not paths:
        raise SystemExit(f"no question set given and none found in {CORPUS}")
    folders = [d.resolve() for d in (args.docs or [])]
    if folders and len(folders) != len(paths):
        raise SystemExit("give one --docs per --questions, or none (then `docs` beside each)")
    sets = []
    for i, path in enumerate(paths):
        folder = folders[i] if folders else path.parent / "docs"
        if not path.is_file():
            raise SystemExit(f"{path} is not a file")
        if not folder.is_dir():
            raise SystemExit(f"{folder} is not a folder (give --docs)")
        sets.append(EvalSet(name=set_name(path), questions_path=path, folder=folder))

    print(machine_line(), flush=True)
    scratch = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="docanalyst-eval-"))
    scratch.mkdir(parents=True, exist_ok=True)
    _lock = lock_scratch(scratch)  # held until the process ends
    stale = stale_because(scratch)
    if stale:
        print(f"scratch {scratch}: the kept database is stale ({'; '.join(stale)}): ingesting afresh", flush=True)
        clear_scratch(scratch)
    fingerprint = code_fingerprint()  # before the workers load the code
    bench = load_bench_ingest()
    env = bench.configure(scratch)
    if args.llm:
        os.environ.update({"LLM_BASE_URL": args.llm, "LLM_MODEL": args.llm_model or "default"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    exit_on_sigterm()
    children = bench.start_services(scratch)
    try:
        return evaluate(args, sets, Stack(scratch, bench, env, fingerprint))
    finally:
        stop(children)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def evaluate(args: argparse.Namespace, sets: list[EvalSet], stack: Stack) -> int:
    report: dict[str, Any] = {"machine": machine_line(), "scratch": str(stack.scratch), "k": args.k, "phases_s": {}}
    for item in sets:
        item.questions = read_questions(item.questions_path)
        item.collection, item.documents = ingest_phase(args, item, stack, report)
        item.judged = judge_phase(item, report)
    user = eval_user()
    for item in sets:
        assert item.collection is not None
        grant_read(user, item.collection)
    for item in sets:
        quality_phase(item, user, args.k, report)
    asks = answers_phase(sets, user, args.ask_limit, report)
    if args.scale > 0:
        queries = [j.question.text for j in sets[0].judged[: args.scale_queries]]
        synthetic = scale_phase(args.scale, queries, sets[0].documents, user, args.k, report)
        if args.load_searchers > 0:
            load_phase(synthetic, queries, user, stack.scratch, args.load_searchers, args.load_seconds, report)
    verdicts = targets(sets, asks)
    report["targets"] = [{"target": text, "met": met} for met, text in verdicts]
    print("targets:", flush=True)
    for met, text in verdicts:
        print(f"  {'MET    ' if met else 'NOT MET'} {text}", flush=True)
    print(embedder_line(), flush=True)
    phases = report["phases_s"]
    print("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


def ingest_phase(
    args: argparse.Namespace, item: EvalSet, stack: Stack, report: dict[str, Any]
) -> tuple[Collection, list[Document]]:
    """The set's collection, ingested now or reused from a kept scratch directory."""
    from ingest import services
    from ingest.models import Chunk, Document

    started = time.monotonic()
    collection = services.collection_get_or_create(name=collection_name_for(item.folder))
    existing = Document.objects.filter(collection=collection)
    if existing.filter(status__in=Document.ACTIVE_STATUSES).exists():
        raise SystemExit(
            f"{stack.scratch} holds an unfinished ingestion of {item.folder}: remove the directory and run again"
        )
    if existing.exists():
        how = f"reused from {stack.scratch}"
    else:
        print(f"[{item.name}] ingesting {item.folder} through {args.concurrency} worker processes", flush=True)
        ingest_folder(stack, item.folder, collection, args.concurrency)
        (stack.scratch / FINGERPRINT_FILE).write_text(json.dumps(stack.fingerprint, indent=1))
        how = f"ingested in {time.monotonic() - started:.1f} s"
    report["phases_s"][f"ingest {item.name}"] = round(time.monotonic() - started, 1)
    documents = list(Document.objects.filter(collection=collection, is_latest=True).order_by("original_name"))
    ready = [d for d in documents if d.status == Document.Status.READY]
    failed = [d for d in documents if d.status != Document.Status.READY]
    chunks = Chunk.objects.filter(document__in=ready).count()
    print(
        f"[{item.name}] documents: {len(ready)} ready, {len(failed)} failed, {chunks} chunks ({how}; "
        f"folder {item.folder})",
        flush=True,
    )
    for document in failed:
        print(f"  failed: {document.original_name}: {document.status} {document.error[:200]}", flush=True)
    report.setdefault("sets", {})[item.name] = {
        "ingest": {"folder": str(item.folder), "how": how, "ready": len(ready), "chunks": chunks},
        "failed": [{"name": d.original_name, "status": d.status, "error": d.error} for d in failed],
    }
    return collection, documents


def judge_phase(item: EvalSet, report: dict[str, Any]) -> list[Judged]:
    """The questions that can be scored; the others are listed with the reason, never dropped silently."""
    judged_all = judge(item.questions, item.documents)
    judged = [j for j in judged_all if j.documents]
    skipped = [j for j in judged_all if not j.documents]
    partial = [j for j in judged if j.not_ready or j.unmatched]
    with_pages = [j for j in judged if j.pages]
    print(
        f"[{item.name}] questions: {len(item.questions)} read from {item.questions_path}; {len(judged)} with >=1 "
        f"relevant document ingested; {len(skipped)} skipped (no relevant document ready); {len(partial)} scored "
        f"on part of their relevant documents; {len(with_pages)} with relevant pages",
        flush=True,
    )
    for label, items in (("skipped", skipped), ("partly scored", partial)):
        for entry in items:
            why = [*(f"not ready: {n}" for n in entry.not_ready), *(f"no match: {u}" for u in entry.unmatched)]
            print(f"  {label}: {entry.question.text[:100]!r}: {'; '.join(why)}", flush=True)
    if not judged:
        raise SystemExit(f"[{item.name}] no question has a relevant document ingested: nothing to score")
    report["sets"][item.name]["questions"] = {
        "file": str(item.questions_path),
        "read": len(item.questions),
        "scored": len(judged),
        "skipped": [{"question": j.question.text, "not_ready": j.not_ready, "unmatched": j.unmatched} for j in skipped],
        "partly_scored": len(partial),
        "with_pages": len(with_pages),
    }
    return judged


def quality_phase(item: EvalSet, user: User, k: int, report: dict[str, Any]) -> None:
    """Every question of the set through each method, searching the set's collection only."""
    from ingest.models import Chunk
    from search.retrieval import SearchFilters

    assert item.collection is not None
    started = time.monotonic()
    filters = SearchFilters(collection_ids=[item.collection.pk])
    item.results = {method: evaluate_method(method, item.judged, user, k, filters) for method in METHODS}
    item.results[BASELINE] = evaluate_baseline(item.judged, item.collection, k)
    report["phases_s"][f"retrieval {item.name}"] = round(time.monotonic() - started, 1)
    print(
        f"[{item.name}] retrieval, k={k}, {len(item.judged)} questions (the database holds {Chunk.objects.count()} "
        f"chunks in all); document level:",
        flush=True,
    )
    for method, result in item.results.items():
        print("  " + metric_line(method, result.document_metrics, result.timing), flush=True)
    if item.has_pages:
        print(f"[{item.name}] page level, over the {sum(1 for j in item.judged if j.pages)} questions with pages:")
        for method, result in item.results.items():
            print("  " + metric_line(method, result.page_metrics), flush=True)
    report["sets"][item.name]["methods"] = {
        method: {"documents": r.document_metrics, "pages": r.page_metrics, "latency": r.timing}
        for method, r in item.results.items()
    }


def answers_phase(
    sets: list[EvalSet], user: User, limit: int, report: dict[str, Any]
) -> dict[tuple[str, str], AskResult]:
    """Each set's questions asked of its own collection, then of each other set's collection only."""
    from django.conf import settings

    backend = f"model {settings.LLM_MODEL} at {settings.LLM_BASE_URL}" if settings.LLM_BASE_URL else "extractive"
    print(f"answers ({backend}; ANSWER_MIN_SUPPORT={settings.ANSWER_MIN_SUPPORT}):", flush=True)
    started = time.monotonic()
    asks: dict[tuple[str, str], AskResult] = {}
    for asked in sets:
        items = asked.judged[:limit] if limit else asked.judged
        for target in sets:
            assert target.collection is not None
            own = asked is target
            label = f"{asked.name} asked of {target.name}" + ("" if own else " (unanswerable)")
            result = ask_all(label, items, user, [target.collection.pk], scored=own)
            asks[(asked.name, target.name)] = result
            print("  " + ask_line(label, result, answerable=own), flush=True)
            for line in result.not_verbatim[:5]:
                print(f"    not verbatim: {line}", flush=True)
            for line in result.failed[:5]:
                print(f"    failed: {line}", flush=True)
    print("the gate at other ANSWER_MIN_SUPPORT values (each question's best page support, recorded):", flush=True)
    for line in threshold_lines(asks):
        print(line, flush=True)
    report["phases_s"]["answers"] = round(time.monotonic() - started, 1)
    report["answers"] = {
        "backend": backend,
        "min_support": settings.ANSWER_MIN_SUPPORT,
        "asks": {f"{a} -> {t}": r.summary() for (a, t), r in asks.items()},
    }
    return asks


def targets(sets: Sequence[EvalSet], asks: dict[tuple[str, str], AskResult]) -> list[tuple[bool, str]]:
    """Every target of the evaluation with whether it holds."""
    verdicts: list[tuple[bool, str]] = []
    for item in sets:
        hybrid = item.results["hybrid"]
        for level, metrics_of in (("document", "document_metrics"), ("page", "page_metrics")):
            mine = getattr(hybrid, metrics_of)
            if not mine:
                continue
            for other in ("dense", "lexical"):
                theirs = getattr(item.results[other], metrics_of)
                below = [f"{m} {mine[m]:.3f} < {theirs[m]:.3f}" for m in mine if mine[m] < theirs[m] - TOLERANCE]
                verdicts.append(
                    (
                        not below,
                        f"[{item.name}] hybrid >= {other} on every {level}-level metric (within {TOLERANCE})"
                        + (": " + ", ".join(below) if below else ""),
                    )
                )
        if item.has_pages:
            mine, base = hybrid.page_metrics["hit@5"], item.results[BASELINE].page_metrics["hit@5"]
            verdicts.append((mine >= base, f"[{item.name}] hybrid page hit@5 {mine:.3f} >= plain BM25's {base:.3f}"))
    for (asked, target), result in asks.items():
        s = result.summary()
        if asked == target:
            rate = s["declined_rate"]
            verdicts.append(
                (rate <= TARGET_DECLINED, f"[{asked}] declined though answerable {rate:.3f} <= {TARGET_DECLINED}")
            )
        else:
            rate = s["declined_rate"]
            verdicts.append(
                (rate >= TARGET_REFUSAL, f"[{asked} asked of {target}] refused {rate:.3f} >= {TARGET_REFUSAL}")
            )
        verdicts.append(
            (
                s["quotes_not_verbatim"] == 0,
                f"[{asked} asked of {target}] every quote verbatim on its page ({s['quotes_not_verbatim']} not, "
                f"of {s['quotes_checked']})",
            )
        )
        if s["failed"]:
            verdicts.append((False, f"[{asked} asked of {target}] {s['failed']} questions failed"))
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
