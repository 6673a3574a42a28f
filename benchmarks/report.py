"""Render ``reports/benchmark.md`` from the JSON results in ``reports/benchmarks/``.

Every number in the Markdown comes from a JSON file written by a benchmark run; nothing is typed
by hand. Run ``python -m benchmarks.report`` to re-render without re-measuring.
"""

from __future__ import annotations

import json
from pathlib import Path

from callcenterai.config import PROJECT_ROOT

REPORT_DIR = PROJECT_ROOT / "reports" / "benchmarks"
REPORT = PROJECT_ROOT / "reports" / "benchmark.md"


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_tfidf(result: dict) -> list[str]:
    official, others = result["official_split"], result["other_splits"]
    published = result["published"]
    prediction = result["prediction"]
    lines = [
        "## TF-IDF + calibrated LinearSVC (Kaggle IT tickets)",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs, "
        f"Python {result['machine']['python']}, with `{result['command']}`. "
        f"Data: {result['data']['rows']:,} tickets (sha256 `{result['data']['sha256'][:12]}…`), "
        f"train {result['data']['train_rows']:,} / test {result['data']['test_rows']:,}.",
        "",
        "| | macro-F1 | accuracy |",
        "|---|---|---|",
        f"| pipeline split (seed {official['seed']}) | {_f(official['macro_f1'])} "
        f"| {_f(official['accuracy'])} |",
        f"| 5 other seeded splits: mean ± std | {_f(others['macro_f1_mean'])} ± "
        f"{_f(others['macro_f1_std'])} (min {_f(others['macro_f1_min'])}, "
        f"max {_f(others['macro_f1_max'])}) | |",
        f"| published TF-IDF + LinearSVC | {_f(published['macro_f1'])} "
        f"| {_f(published['accuracy'])} |",
        "| target | 0.875 | |",
        "",
        "Per-class F1 on the pipeline split:",
        "",
        "| class | F1 | published |",
        "|---|---|---|",
    ]
    for label, f1 in sorted(official["per_class_f1"].items(), key=lambda kv: kv[1]):
        reference = published["per_class_f1"].get(label)
        lines.append(f"| {label} | {_f(f1)} | {_f(reference, 2) if reference else ''} |")
    lines += [
        "",
        f"Calibration: ECE {_f(official['ece'])}, log loss {_f(official['log_loss'])}. "
        f"Slices (macro-F1): "
        + ", ".join(f"{name} {_f(value)}" for name, value in official["slices"].items())
        + ".",
        "",
        "| speed | value |",
        "|---|---|",
        f"| training on the train split, median of 3 | "
        f"{_f(result['training_seconds']['median'], 1)} s |",
        f"| single ticket `predict_proba` p50 / p95 / p99 | "
        f"{_f(prediction['single_ticket_ms']['p50'], 2)} / "
        f"{_f(prediction['single_ticket_ms']['p95'], 2)} / "
        f"{_f(prediction['single_ticket_ms']['p99'], 2)} ms |",
        f"| single tickets, one at a time | "
        f"{prediction['single_ticket_per_second']:,.0f} tickets/s |",
        f"| batch of 1,000 | {_f(prediction['batch_1000']['median_seconds'], 3)} s, "
        f"{prediction['batch_1000']['tickets_per_second']:,.0f} tickets/s |",
        f"| explanation (top terms) p50 / p95 | {_f(prediction['explain_ms']['p50'], 2)} / "
        f"{_f(prediction['explain_ms']['p95'], 2)} ms |",
        "",
    ]
    return lines


def _versus(title: str, variant: dict, base: dict) -> str:
    speed = base["median_ticket"]["p50_ms"] / variant["median_ticket"]["p50_ms"]
    delta = 100 * (variant["test_macro_f1"] - base["test_macro_f1"])
    return f"{title} {speed:.1f}x faster, macro-F1 {delta:+.2f} points"


def render_transformer(result: dict) -> list[str]:
    variants = result["variants"]
    training = result.get("training", {})
    names = {
        "pytorch_fp32": "PyTorch fp32",
        "onnx_fp32": "ONNX fp32",
        "onnx_int8": "ONNX int8",
        "onnx_int8_matmul": "ONNX int8, embeddings fp32",
        "onnx_int8_per_channel": "ONNX int8 per channel, embeddings fp32",
    }
    names = {key: title for key, title in names.items() if key in variants}
    base = variants["pytorch_fp32"]
    lines = [
        "## Transformer (fine-tuned multilingual encoder)",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. Base model `{result['base_model']}`, max length "
        f"{result['max_length']} tokens.",
        "",
    ]
    if training:
        epochs = training["epochs"]
        lines += [
            f"Training (MLflow run `{training['run_id']}`): {training['train_rows']:,} tickets, "
            f"{len(epochs['val_macro_f1_epoch'])} epochs, wall time "
            f"{training['train_seconds'] / 60:.1f} min (fine-tuning and per-epoch validation; "
            f"ONNX export not included); validation macro-F1 per epoch "
            + ", ".join(_f(v) for v in epochs["val_macro_f1_epoch"])
            + f"; best epoch {training['best_epoch']}; served precision: "
            f"{training['serving_precision']}.",
            "",
        ]
    lines += [
        "| | " + " | ".join(names.values()) + " |",
        "|---" * (len(names) + 1) + "|",
    ]

    def row(title: str, get, digits: int = 3) -> str:
        return f"| {title} | " + " | ".join(_f(get(variants[v]), digits) for v in names) + " |"

    lines += [
        row("test macro-F1", lambda v: v["test_macro_f1"]),
        row("test accuracy", lambda v: v["test_accuracy"]),
        "| size on disk (MB) | " + " | ".join(_f(result["size_mb"][v], 0) for v in names) + " |",
        row("peak memory of the process (MB)", lambda v: v["peak_rss_mb"], 0),
        row(
            f"median ticket ({base['median_ticket']['words']} words) p50 ms",
            lambda v: v["median_ticket"]["p50_ms"],
            1,
        ),
        row("median ticket p95 ms", lambda v: v["median_ticket"]["p95_ms"], 1),
        row(
            f"long ticket ({base['long_ticket']['words']} words) p50 ms",
            lambda v: v["long_ticket"]["p50_ms"],
            1,
        ),
        row("long ticket p95 ms", lambda v: v["long_ticket"]["p95_ms"], 1),
        row("batch of 256: tickets/s", lambda v: v["batch_256_tickets_per_second"], 0),
        row("whole test split: tickets/s", lambda v: v["test_tickets_per_second"], 0),
        "",
        "Against PyTorch fp32 on the test split and a median ticket: "
        + "; ".join(
            _versus(names[key], variants[key], base) for key in names if key != "pytorch_fp32"
        )
        + ".",
        "",
        "Accuracy per language on `data/eval/multilingual_tickets.csv` as it was on the date "
        "above (240 tickets before 2026-11-29 11:30 UTC, 720 after):",
        "",
        "| language | TF-IDF | " + " | ".join(names.values()) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    tfidf = result["tfidf_multilingual_accuracy"]
    for language in sorted(tfidf):
        lines.append(
            f"| {language} | {_f(tfidf[language])} | "
            + " | ".join(_f(variants[v]["multilingual_accuracy"][language]) for v in names)
            + " |"
        )
    lines.append("")
    return lines


def render_services(result: dict) -> list[str]:
    lines = [
        "## Model services over HTTP (loopback, wrk)",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`: one uvicorn process per service, wrk (1 thread) on the same "
        f"machine. Tickets from the test split: median {result['tickets']['median']} words, "
        f"long (95th percentile) {result['tickets']['long']} words.",
        "",
        "| service | median ticket, 1 client: p50 / p95 ms | long ticket, 1 client: p50 / p95 ms "
        "| median ticket, 8 clients: req/s, p50 / p95 ms | `/health`, 8 clients: req/s "
        "| `/predict` ÷ `/health` throughput | CPU (%, of 200) / peak RSS under load |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, data in result["services"].items():
        median, long = data["median_ticket_sequential"], data["long_ticket_sequential"]
        loaded, health = data["median_ticket_8_clients"], data["health_8_clients"]
        lines.append(
            f"| {kind} | {_f(median['p50_ms'], 2)} / {_f(median['p95_ms'], 2)} "
            f"| {_f(long['p50_ms'], 2)} / {_f(long['p95_ms'], 2)} "
            f"| {loaded['requests_per_second']:,.0f}, {_f(loaded['p50_ms'], 1)} / "
            f"{_f(loaded['p95_ms'], 1)} "
            f"| {health['requests_per_second']:,.0f} "
            f"| {_f(data['predict_to_health_throughput_ratio'], 2)} "
            f"| {loaded['mean_cpu_percent']:.0f} / {loaded['peak_rss_mb']:.0f} MB |"
        )
    batching = result.get("micro_batching")
    if batching:
        lines += [
            "",
            "Micro-batching, median ticket, same run. The table above is measured with it off "
            "(`CALLCENTERAI_MICRO_BATCH_SIZE=1`); on is the default (batches of up to 8 formed "
            "from requests that queued while the model was busy, no added wait):",
            "",
            "| service | 8 clients off: req/s, p95 ms | 8 clients on: req/s, p95 ms "
            "| 1 client on: p50 / p95 ms |",
            "|---|---|---|---|",
        ]
        for kind, on in batching.items():
            off = result["services"][kind]["median_ticket_8_clients"]
            busy, alone = on["8_clients"], on["1_client"]
            lines.append(
                f"| {kind} | {off['requests_per_second']:,.0f}, {_f(off['p95_ms'], 1)} "
                f"| {busy['requests_per_second']:,.0f}, {_f(busy['p95_ms'], 1)} "
                f"| {_f(alone['p50_ms'], 2)} / {_f(alone['p95_ms'], 2)} |"
            )
    lines.append("")
    return lines


def render_pii(result: dict) -> list[str]:
    lines = [
        "## PII scrubbing (generated tickets with known spans)",
        "",
        f"Measured {result['measured_at']} with `{result['command']}`: {result['tickets']:,} "
        "tickets in English, French and Arabic from Faker (en_US, en_GB, fr_FR; ar_SA for "
        "names) and phonenumbers (MA, TN), with distractors that must survive (ticket numbers, "
        "dates, versions, amounts, product names). The generator and the scrubber were written "
        "together, so these figures are an upper bound for real tickets.",
        "",
        "| entity | precision | recall | true / false positives | missed |",
        "|---|---|---|---|---|",
    ]
    for kind, stats in result["overall"].items():
        if kind == "PERSON":  # by language below: the Arabic rows would blur the figure
            continue
        lines.append(
            f"| {kind} | {_f(stats['precision'])} | {_f(stats['recall'])} "
            f"| {stats['tp']} / {stats['fp']} | {stats['fn']} |"
        )
    timing = result["timing"]
    lines += [
        "",
        "Recall by language: "
        + "; ".join(
            f"{language} "
            + ", ".join(
                f"{kind} {_f(stats['recall'], 2)}"
                for kind, stats in scores.items()
                if stats["recall"] is not None and kind != "PERSON"
            )
            for language, scores in result["by_language"].items()
        )
        + ".",
        "",
        f"Scrubbing time: p50 {_f(timing['plain_median_ticket']['p50_ms'], 3)} ms for a "
        f"{timing['plain_median_ticket']['chars']}-character ticket without PII, p50 "
        f"{_f(timing['generated_median']['p50_ms'], 3)} ms for the median generated ticket "
        f"({timing['generated_median']['chars']} characters).",
        "",
    ]
    names = result.get("names")
    if names:
        lines += render_pii_names(result, names)
    return lines


def render_pii_names(result: dict, names: dict) -> list[str]:
    if not names["available"]:
        return ["Person names: not measured (Presidio or the spaCy models are not installed).", ""]
    lines = [
        "Person names (`[PERSON]`, Presidio with spaCy `en_core_web_sm` / `fr_core_news_sm`; "
        "Faker names, 15% first name only; tickets scrubbed with their language). A name is "
        "found when a `[PERSON]` overlaps it, fully hidden when one covers all of it. Arabic "
        "names are not detected (no offline Arabic model): the row shows that limit. The "
        "products in the generated tickets (Outlook, Teams, Windows, ...) are in the "
        "scrubber's stop-list, so precision here is an upper bound; see unlisted products below.",
        "",
        "| language | precision | recall | fully hidden | true / false positives | missed |",
        "|---|---|---|---|---|---|",
    ]
    for language, scores in result["by_language"].items():
        stats = scores.get("PERSON")
        if not stats:
            continue
        actual = stats["tp"] + stats["fn"]
        full = stats["full"] / actual if actual else None
        lines.append(
            f"| {language} | {_f(stats['precision'])} | {_f(stats['recall'])} | {_f(full)} "
            f"| {stats['tp']} / {stats['fp']} | {stats['fn']} |"
        )
    handwritten = names["handwritten"]
    lines += [
        "",
        "False names in the hand-written evaluation tickets (`data/eval/multilingual_tickets.csv`, "
        "which contain no names; the stop-list of products and greetings was written after "
        "looking at them, so this is not an independent test): "
        + "; ".join(
            f"{language} {len(data['false_names'])} in {data['tickets']} tickets"
            + (f" ({', '.join(sorted(set(data['false_names'])))})" if data["false_names"] else "")
            for language, data in handwritten.items()
        )
        + ".",
        "",
    ]
    products = names.get("unlisted_products")
    if products:
        lines += [
            "Product names *not* in that stop-list, in four short sentences each: taken for a "
            "person in "
            + "; ".join(
                f"{language} {data['tagged']} of {data['mentions']} mentions "
                f"({_f(data['tagged'] / data['mentions'], 2)})"
                for language, data in products.items()
            )
            + ". Such a product becomes `[PERSON]`: the ticket loses a word, no data leaks.",
            "",
        ]
    lines += [
        "| ticket | characters | names off: p50 / p95 ms | names on: p50 / p95 ms |",
        "|---|---|---|---|",
    ]
    for language, data in names["timing"].items():
        off, on = data["names_off"], data["names_on"]
        lines.append(
            f"| plain median ticket ({language}) | {data['chars']} "
            f"| {_f(off['p50_ms'], 3)} / {_f(off['p95_ms'], 3)} "
            f"| {_f(on['p50_ms'], 2)} / {_f(on['p95_ms'], 2)} |"
        )
    lines += [
        "",
        f"Name engine start-up (import Presidio, load both spaCy models, one call each): "
        f"{_f(names['engine_init_seconds'], 1)} s, once per process (`warm_up()`).",
        "",
    ]
    return lines


def render_blend(blend: dict) -> list[str]:
    """Both models on every ticket, probabilities averaged: an analysis beside the policy."""
    test, natural = blend["test"], blend["multilingual_accuracy"]
    lines = [
        "",
        "Analysis, not the agent's rule: both models on every ticket, answer = the label with the "
        "highest weighted mean of their probabilities, the weight on the transformer chosen on "
        f"validation: **{blend['weight']}**. Test macro-F1 / accuracy "
        f"**{test['macro_f1']:.4f}** / {test['accuracy']:.4f}; natural evaluation set accuracy "
        + ", ".join(f"{language} {value:.3f}" for language, value in sorted(natural.items()))
        + ".",
    ]
    for name, interval in blend["test_bootstrap"].items():
        lines.append(
            f"Paired bootstrap of test macro-F1 {name.replace('_', ' ')}: 95 % interval "
            f"[{interval['low']:+.4f}, {interval['high']:+.4f}]."
        )
    lines += ["", "| weight on the transformer | Kaggle val macro-F1 | natural val macro-F1 |"]
    lines.append("|---|---|---|")
    for point in blend["validation_curve"]:
        lines.append(
            f"| {point['weight']:.1f} | {point['kaggle_macro_f1']:.4f} | "
            f"{point['natural_macro_f1']:.4f} |"
        )
    return lines


def render_routing(result: dict) -> list[str]:
    chosen, val, test = result["chosen"], result["validation"], result["test"]
    languages = "/".join(chosen.get("tfidf_languages", ["en"]))
    lines = [
        "## Routing policy (agent)",
        "",
        f"Measured {result['measured_at']} with `{result['command']}`. Policy tuned on the "
        f"validation split ({result['rows']['val']:,} tickets, Kaggle and natural) for a budget "
        f"of at most {result['budget_english_share']:.0%} of English tickets consulting the "
        "transformer, by the mean of the Kaggle and the natural validation macro-F1; the test "
        "split and the natural evaluation set were scored once, with the chosen policy. When "
        f"both models answered, the rule `{result['answer_rule']}` picks the answer.",
        "",
        f"Chosen: TF-IDF may answer {languages}; `tfidf_min_confidence` "
        f"{chosen['tfidf_min_confidence']}, `complexity_threshold` "
        f"{chosen['complexity_threshold']}"
        + (
            " (above 1.0: the complexity rule never fires)."
            if chosen["complexity_threshold"] > 1
            else "."
        ),
        "",
        "| split | TF-IDF alone | transformer alone | agent | share to transformer " "(English) |",
        "|---|---|---|---|---|",
    ]
    for name, scores in (("validation", val), ("test", test)):
        lines.append(
            f"| {name} macro-F1 / accuracy | {scores['tfidf']['macro_f1']:.4f} / "
            f"{scores['tfidf']['accuracy']:.4f} | {scores['transformer']['macro_f1']:.4f} / "
            f"{scores['transformer']['accuracy']:.4f} | **{scores['agent']['macro_f1']:.4f}** / "
            f"{scores['agent']['accuracy']:.4f} | {scores['transformer_share']:.1%} "
            f"({scores['transformer_share_english']:.1%}) |"
        )
    for name, interval in test.get("bootstrap", {}).items():
        lines.append(
            f"\nTest split, paired bootstrap (1,000 resamples) of macro-F1 "
            f"{name.replace('_', ' ')}: 95 % interval [{interval['low']:+.4f}, "
            f"{interval['high']:+.4f}], positive in {interval['share_positive']:.0%} of "
            "resamples."
        )
    same_languages = [
        p
        for p in result["curve"]
        if p.get("tfidf_languages", ["en"]) == chosen.get("tfidf_languages", ["en"])
    ]
    lines += [
        "",
        f"Validation curve (TF-IDF answers {languages}, complexity rule off): macro-F1 against "
        "the share of tickets that consult the transformer.",
        "",
        "| tfidf_min_confidence | share to transformer | macro-F1 | criterion |",
        "|---|---|---|---|",
    ]
    for point in same_languages:
        if point["complexity_threshold"] > 1:
            lines.append(
                f"| {point['tfidf_min_confidence']:.2f} | {point['transformer_share']:.1%} "
                f"| {point['macro_f1']:.4f} | {point.get('criterion', point['macro_f1']):.4f} |"
            )
    best_complex = max(
        (p for p in same_languages if p["complexity_threshold"] <= 1),
        key=lambda p: p.get("criterion", p["macro_f1"]),
    )
    lines += [
        "",
        f"Best point with the complexity rule on: criterion "
        f"{best_complex.get('criterion', best_complex['macro_f1']):.4f} at "
        f"share {best_complex['transformer_share']:.1%} (confidence "
        f"{best_complex['tfidf_min_confidence']}, complexity "
        f"{best_complex['complexity_threshold']}).",
    ]
    if "blend" in result:
        lines += render_blend(result["blend"])
    for key, title in (("multilingual", "language"), ("multilingual_varieties", "variety")):
        if key not in result:
            continue
        lines += [
            "",
            f"Natural evaluation set per {title} (accuracy; agent macro-F1 and accuracy with 95 % "
            "bootstrap intervals; ECE of the agent's confidence; language detected on the "
            "scrubbed text):",
            "",
            f"| {title} | tickets | detected | TF-IDF | transformer | agent | agent 95 % CI "
            "| agent macro-F1 | ECE |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, row in result[key].items():
            ci = row.get("agent_accuracy_ci95")
            lines.append(
                f"| {name} | {row['tickets']} | {row['detected_correctly']:.3f} | "
                f"{row['tfidf']:.3f} | {row['transformer']:.3f} | **{row['agent']:.3f}** | "
                + (f"[{ci[0]:.3f}, {ci[1]:.3f}] | " if ci else "| ")
                + f"{_f(row.get('agent_macro_f1'))} | {_f(row.get('agent_ece'))} |"
            )
    return lines + [""]


def render_agent(result: dict) -> list[str]:
    lines = [
        "## Agent: overhead and end-to-end latency",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. Overhead = scrubbing + language + signals + routing plan, in "
        "process, no model call (target p50 <= "
        f"{result['target_overhead_p50_ms']:g} ms). Person names are looked for only in text "
        "with a capital letter, so the lower-case Kaggle tickets skip the name model.",
        "",
        "| ticket | words | names off p50 / p95 ms | names on p50 / p95 ms |",
        "|---|---|---|---|",
    ]
    for name, row in result["overhead"].items():
        off, on = row["names_off"], row["names_on"]
        lines.append(
            f"| {name.replace('_', ' ')} | {row['words']} | {off['p50_ms']:.2f} / "
            f"{off['p95_ms']:.2f} | {on['p50_ms']:.2f} / {on['p95_ms']:.2f} |"
        )
    requests = result["requests"]
    lines += [
        "",
        "End to end on loopback, the three services running (uvicorn, one process each), one "
        f"client, sequential: {requests['english']} English test tickets, {requests['french']} "
        f"French and {requests['arabic']} Arabic tickets, grouped by the models the agent "
        "called. The TF-IDF service called directly with the same English tickets is the "
        "baseline of the same run.",
        "",
        "| route | requests | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for route, row in result["end_to_end"].items():
        lines.append(f"| {route} | {row['n']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} |")
    return lines + [""]


def render_batch(result: dict) -> list[str]:
    lines = [
        "## Batch classification: one process against Ray",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. Each row is a fresh `callcenterai batch` process on the same "
        "file (Kaggle test tickets drawn with replacement, scrubbed, classified, written to "
        "Parquet in input order); wall time includes Ray's start-up and the actors' model "
        "loading.",
        "",
        "| model | tickets | workers | wall s | tickets/s (wall) | tickets/s (classify) | "
        "vs one process |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, runs in result["runs"].items():
        base = runs[0]["tickets_per_second"]
        for run in runs:
            workers = "one process (no Ray)" if run["workers"] == 0 else f"Ray, {run['workers']}"
            lines.append(
                f"| {model} | {run['tickets']:,} | {workers} | {run['wall_seconds']:.1f} | "
                f"{run['tickets_per_second_wall']:,.0f} | {run['tickets_per_second']:,.0f} | "
                f"{run['tickets_per_second'] / base:.2f}x |"
            )
    return lines + [""]


def _ci(piece: dict, key: str) -> str:
    low, high = piece[f"{key}_ci95"]
    return f"{_f(piece[key])} [{_f(low)}, {_f(high)}]"


def render_natural_tfidf(result: dict) -> list[str]:
    data = result["data"]
    lines = [
        "## Natural tickets: TF-IDF trained on Kaggle + the natural corpus",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. Train {data['train_rows']:,} tickets "
        f"({data['natural_rows']:,} natural tickets in all, split with validation); validation "
        f"{data['val_rows']['kaggle']:,} Kaggle + {data['val_rows']['natural']:,} natural; Kaggle "
        f"test {data['test_rows']:,}; natural evaluation set {data['eval']['rows']} tickets.",
        "",
        f"Weight of a natural ticket, chosen on validation ({result['criterion']}):",
        "",
        "| weight | Kaggle val macro-F1 | natural val macro-F1 | criterion | train s |",
        "|---|---|---|---|---|",
    ]
    for c in result["candidates"]:
        chosen = " (chosen)" if c["weight"] == result["chosen_weight"] else ""
        lines.append(
            f"| {c['weight']:g}{chosen} | {_f(c['kaggle_val_macro_f1'])} "
            f"| {_f(c['natural_val_macro_f1'])} | {_f(c['criterion'])} | {c['train_seconds']} |"
        )
    lines += [
        "",
        "Measured once on the held-out sets (accuracy and macro-F1 with 95 % bootstrap "
        "intervals, ECE):",
        "",
        "| model | Kaggle test macro-F1 | language | natural accuracy | natural macro-F1 | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in result["measured"].items():
        title = (
            "Kaggle only" if name == "kaggle_only" else f"Kaggle + natural (weight {m['weight']:g})"
        )
        for i, (code, piece) in enumerate(m["natural_eval_languages"].items()):
            head = f"| {title} | {_f(m['kaggle_test_macro_f1'])} " if i == 0 else "| | "
            lines.append(
                f"{head}| {code} | {_ci(piece, 'accuracy')} | {_ci(piece, 'macro_f1')} "
                f"| {_f(piece['ece'])} |"
            )
    lines.append("")
    return lines


def render_quick_transformer(result: dict) -> list[str]:
    seconds = result["seconds"]
    overrides = ", ".join(f"{k} {v}" for k, v in result["quick_overrides"].items())
    lines = [
        "## The first start's transformer (quick profile) next to the full one",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. Quick profile (params.yaml `quick`): {overrides}. Training, "
        f"ONNX export, int8 quantisation and validation: {seconds['train_model']:.0f} s "
        f"(fine-tuning alone {seconds['fine_tune']:.0f} s; target: at most 600 s in all). The "
        "full transformer and TF-IDF are the committed `dvc repro` models.",
        "",
        "| model | Kaggle test macro-F1 | natural en | natural fr | natural ar |",
        "|---|---|---|---|---|",
    ]
    for name, title in (
        ("quick", "quick transformer"),
        ("full_transformer", "full transformer"),
        ("tfidf", "TF-IDF"),
    ):
        m = result[name]
        languages = m["natural_eval_languages"]
        cells = " | ".join(_ci(languages[code], "accuracy") for code in ("en", "fr", "ar"))
        lines.append(f"| {title} | {_f(m['kaggle_test_macro_f1'])} | {cells} |")
    lines += ["", "(natural: accuracy on the natural evaluation set, 95 % bootstrap interval)", ""]
    for other in result.get("tried", []):
        languages = other["natural_eval_languages"]
        lines.append(
            f"Also tried: `{other['command']}`: {other['seconds']['train_model']:.0f} s, "
            f"validation macro-F1 {_f(other['val_macro_f1'])} (committed profile "
            f"{_f(result['quick']['val_macro_f1'])}), Kaggle test "
            f"{_f(other['kaggle_test_macro_f1'])}, natural en / fr / ar "
            f"{_f(languages['en']['accuracy'])} / "
            f"{_f(languages['fr']['accuracy'])} / {_f(languages['ar']['accuracy'])}."
        )
    if "choice" in result:
        lines += ["", f"Kept: {result['choice']}.", ""]
    return lines


def render_first_start(result: dict) -> list[str]:
    first, promotion = result["first_start"], result["promotion_under_load"]
    return [
        "## First start, restart and a promotion under load",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}` (`callcenterai up` in an empty stack folder; offline base model "
        f"already built: {result['base_model_cached']}).",
        "",
        "| | measured | target |",
        "|---|---|---|",
        f"| first correct answer from the agent (what the chat page posts) | "
        f"{first['seconds_to_first_correct_answer']:.0f} s | <= 90 s |",
        *(
            f"| · {label} ticket answered correctly | "
            + (f"{seconds:.0f} s" if seconds is not None else "never")
            + " | |"
            for label, seconds in first["seconds_to_correct_answer"].items()
        ),
        f"| full system (quick transformer joined, no restart) | "
        f"{first['seconds_to_full_system'] / 60:.1f} min | <= 12 min |",
        f"| restart with registered models (both answering) | "
        f"{result['restart_seconds_to_both_models']:.0f} s | <= 30 s |",
        f"| promotion under load: failed requests | {promotion['failed_requests']} of "
        f"{promotion['requests']} | 0 |",
        f"| promotion under load: alias moved -> new version answering | "
        f"{promotion['seconds_from_alias_move_to_new_version']} s | within the polling "
        f"interval ({promotion['poll_interval_s']:g} s) |",
        "",
        f"While the transformer trained, the agent's notice: \"{first['notice_while_training']}\"",
        "",
        "With the first start's models (TF-IDF + the quick transformer), over the agent's API:",
        "",
        "| | natural en | natural fr | natural ar | Kaggle test macro-F1 "
        f"(first {first['quality']['kaggle_rows']:,}) |",
        "|---|---|---|---|---|",
        *(
            f"| {title} | {q['natural_accuracy']['en']:.3f} | {q['natural_accuracy']['fr']:.3f} "
            f"| {q['natural_accuracy']['ar']:.3f} | {q['kaggle_test_macro_f1']:.4f} |"
            for title, q in (
                ("agent (default policy)", first["quality"]["agent"]),
                ("TF-IDF alone (forced)", first["quality"]["tfidf_alone"]),
            )
        ),
        "",
    ]


def render_code_switching(result: dict) -> list[str]:
    lines = [
        "## Code-switching augmentation (TF-IDF)",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. Kaggle English training tickets copied with glossary words "
        f"replaced by their French or Arabic translation ({result['glossary_terms']} terms, "
        "`data/natural/glossary.csv`; each word switched with the given probability), added to "
        f"Kaggle + natural training. Chosen on validation ({result['criterion']}).",
        "",
        "| copies per language | rate | rows added | Kaggle val macro-F1 | natural val macro-F1 "
        "| natural val fr / ar accuracy | criterion |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result["candidates"]:
        languages = c["natural_val_languages"]
        lines.append(
            f"| {c['copies_per_language']:,} | {c['rate']:g} | {c['added_rows']:,} "
            f"| {_f(c['kaggle_val_macro_f1'])} | {_f(c['natural_val_macro_f1'])} "
            f"| {_f(languages['fr']['accuracy'])} / {_f(languages['ar']['accuracy'])} "
            f"| {_f(c['criterion'])} |"
        )
    lines += [
        "",
        "Measured once (natural evaluation set accuracy per language, Kaggle test macro-F1):",
        "",
        "| model | Kaggle test | natural en | natural fr | natural ar |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["measured"].items():
        cells = " | ".join(
            _ci(m["natural_eval_languages"][code], "accuracy") for code in ("en", "fr", "ar")
        )
        title = {"chosen": "best on validation"}.get(name, name)
        title = f"{title} ({m['copies_per_language']:,} copies, rate {m['rate']:g})"
        lines.append(f"| {title} | {_f(m['kaggle_test_macro_f1'])} | {cells} |")
    lines.append("")
    if "decision" in result:
        lines += [f"Decision: {result['decision']}", ""]
    return lines


def render_feedback_loop(result: dict) -> list[str]:
    review, handlers, week = result["review"], result["handlers"], result["week"]
    before, after = result["held_out_accuracy_before"], result["held_out_accuracy_after"]
    promotion, timings = result["promotion"], result["timings"]
    corrections = review["corrections"] + handlers["corrections"]
    lines = [
        "## The learning loop: a replayed week of corrections",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. A first TF-IDF model trained on the Kaggle tickets alone "
        "(production v" + str(result["versions"]["first"]) + "), served by a TF-IDF service that "
        f"follows the registry alias, behind the agent with its ticket store. The week: the "
        f"{week['tickets']:,} natural training tickets (en / fr / ar) through `/classify` "
        f"(first model's accuracy on them: en {_f(result['week_accuracy_first_model']['en'])}, "
        f"fr {_f(result['week_accuracy_first_model']['fr'])}, "
        f"ar {_f(result['week_accuracy_first_model']['ar'])}). TF-IDF answers every ticket: the "
        "transformer is not retrained here (an hour on 2 cores).",
        "",
        f"Corrections through the API: {review['corrections']} from the review queue (the whole "
        f"queue; the model had been right on {review['model_was_right']} of them) and "
        f"{handlers['corrections']} by the people handling the other tickets (a random "
        f"{handlers['corrections'] / handlers['out_of']:.0%} of {handlers['out_of']:,}), "
        f"{corrections} in all. `callcenterai feedback export`, then `prepare`: "
        f"{result['data_report']['feedback_train']} corrections train, "
        f"{result['data_report']['feedback_test']} are held out (stable by ticket id).",
        "",
        "Weight of a corrected ticket, chosen on the held-out corrections:",
        "",
        "| weight | held-out corrections macro-F1 | accuracy | Kaggle val macro-F1 |",
        "|---|---|---|---|",
    ]
    for weight, row in result["weight_sweep"].items():
        chosen = " (chosen)" if float(weight) == result["chosen_weight"] else ""
        lines.append(
            f"| {float(weight):g}{chosen} | {_f(row['held_out_corrections_macro_f1'])} "
            f"| {_f(row['held_out_corrections_accuracy'])} | {_f(row['kaggle_val_macro_f1'])} |"
        )
    switch = result["switch_after_promotion_s"]
    lines += [
        "",
        f"Promotion: {'promoted' if promotion['promoted'] else 'refused'} ({promotion['reason']})"
        + (
            f"; the running service answered with the new version {switch} s later, without a "
            "restart."
            if switch is not None
            else "."
        ),
        "",
        f"The fixed held-out slice, `{result['held_out_slice']['file']}` "
        f"({result['held_out_slice']['tickets']} tickets, never used to choose anything), "
        "through the agent before and after:",
        "",
        "| | en | fr | ar | all | Kaggle test macro-F1 |",
        "|---|---|---|---|---|---|",
        f"| before (v{result['versions']['first']}) | {_f(before['en'])} | {_f(before['fr'])} "
        f"| {_f(before['ar'])} | {_f(before['all'])} "
        f"| {_f(result['kaggle_test_macro_f1']['first'])} |",
        f"| after (v{result['versions']['second']}) | {_f(after['en'])} | {_f(after['fr'])} "
        f"| {_f(after['ar'])} | {_f(after['all'])} "
        f"| {_f(result['kaggle_test_macro_f1']['second'])} |",
        "",
        f"Wall time of the loop, from the first ticket of the week to the new version serving: "
        f"{timings['loop_wall_s']} s (streaming the week {timings['week_streamed_s']} s, "
        f"retraining {timings['retrain_s']} s).",
        "",
    ]
    return lines


def render_drift(result: dict) -> list[str]:
    titles = {
        "unshifted": "unshifted (Kaggle test + natural evaluation tickets, validation's mix)",
        "mostly_arabic": "mostly Arabic (80 % Arabic natural tickets)",
        "one_topic": f"one topic (80 % {result['topic']} tickets)",
    }
    features = ["language", "words", "confidence", "label", "unknown_words"]
    lines = [
        "## Drift: replayed traffic against the model's reference profile",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`. TF-IDF trained on Kaggle + the natural corpus; reference profile "
        f"from its {result['reference_tickets']:,} validation tickets. Each replay goes through "
        "a running agent with a fresh ticket store; the figures are the agent's own "
        "`callcenterai_drift` gauges (Jensen-Shannon distance, base 2). Alert condition: a "
        f"feature above {result['threshold']:g} with at least {result['min_tickets']} tickets "
        "(in production also for 30 minutes).",
        "",
        "| replay | tickets | " + " | ".join(features) + " | alert condition |",
        "|---|---|" + "---|" * len(features) + "---|",
    ]
    for name, row in result["replays"].items():
        values = " | ".join(_f(row["distances"].get(f)) for f in features)
        fires = "fires" if row["alert_condition"] else "quiet"
        lines.append(f"| {titles.get(name, name)} | {row['tickets']} | {values} | {fires} |")
    lines += [
        "",
        "As expected (unshifted quiet, both shifts firing): "
        f"{'yes' if result['as_expected'] else 'no'}.",
        "",
    ]
    return lines


def render_store(result: dict) -> list[str]:
    overhead, tickets = result["overhead"], result["tickets"]
    skipped = sum(tickets["skipped_transformer_route"].values())
    versions = f"SQLite {result['machine']['sqlite']}" + (
        f", {result['machine']['postgresql']}" if "postgresql" in result["machine"] else ""
    )
    lines = [
        "## Ticket store: overhead on `/classify` and inserts under load",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}` ({versions})"
        + (" — a smoke run, not a measurement" if result.get("quick") else "")
        + ". TF-IDF trained on the Kaggle tickets; the agents answer every ticket with TF-IDF "
        "alone (`CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE=0`, no transformer service; "
        f"{result['transformer_calls']} transformer calls; {skipped} sampled tickets left out "
        "because their language would send them to the transformer). Client, agents, TF-IDF "
        "service and database share the machine.",
        "",
        "Overhead: two agents against the same TF-IDF service, store on (SQLite file) and off "
        "(`CALLCENTERAI_STORE_ENABLED=false`), one client, sequential, the same tickets "
        "interleaved A/B then B/A (target: p50 difference <= "
        f"{result['target_overhead_p50_ms']:g} ms on the median ticket).",
        "",
        "| tickets | requests per agent | store on p50 / p95 ms | store off p50 / p95 ms "
        "| p50 difference | p50 ratio | median paired difference |",
        "|---|---|---|---|---|---|---|",
    ]
    titles = {
        "median_ticket": f"median Kaggle test ticket ({tickets['median_words']} words)",
        "kaggle_tickets": "Kaggle test tickets",
        "natural_tickets": "natural tickets (en / fr / ar)",
    }
    for name, title in titles.items():
        row = overhead.get(name)
        if row is None:
            continue
        on, off = row["store_on"], row["store_off"]
        lines.append(
            f"| {title} | {on['n']} | {_f(on['p50_ms'], 2)} / {_f(on['p95_ms'], 2)} "
            f"| {_f(off['p50_ms'], 2)} / {_f(off['p95_ms'], 2)} "
            f"| {row['p50_difference_ms']:+.2f} ms | {_f(row['p50_ratio'], 2)} "
            f"| {row['median_paired_difference_ms']:+.2f} ms |"
        )
    side = result["request_side_in_process"]
    lines += [
        "",
        f"Target {'met' if overhead['target_met'] else 'not met'}. The request-side work alone "
        "(building the row + `TicketWriter.submit`, in process, the writer thread writing): "
        f"p50 {_f(side['p50_ms'], 3)} ms, p95 {_f(side['p95_ms'], 3)} ms.",
        "",
        "Sustained inserts: the store-on agent under concurrent load (async httpx clients, "
        "loopback), then a flush wait and every answered ticket looked up in the store.",
        "",
        "| store | clients | s | answered | req/s | p50 / p95 ms | rows stored/s during load "
        "| failed / dropped | backlog at end | all answered stored (flush) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for store, load in result["load"].items():
        latency = load["latency"] or {"p50_ms": None, "p95_ms": None}
        lines.append(
            f"| {store} | {load['clients']} | {_f(load['seconds'], 1)} | {load['answered']:,} "
            f"| {load['requests_per_second']:,.0f} "
            f"| {_f(latency['p50_ms'], 1)} / {_f(latency['p95_ms'], 1)} "
            f"| {load['rows_stored_per_second_during_load']:,.0f} "
            f"| {load['failed']} / {load['dropped']} | {load['backlog_at_end_of_load']} "
            f"| {'yes' if load['all_answered_tickets_stored'] else 'no'} "
            f"({_f(load['flush_seconds'], 1)} s) |"
        )
    lines += [
        "",
        "Raw capacity of the store: `TicketStore.add` of batches of "
        f"{next(iter(result['raw_inserts'].values()))['batch_rows']} rows, one after the other:",
        "",
        "| store | settings | batches | rows/s | batch p50 / max ms |",
        "|---|---|---|---|---|",
    ]
    for store, raw in result["raw_inserts"].items():
        settings = ", ".join(f"{k} {v}" for k, v in raw["settings"].items())
        lines.append(
            f"| {store} | {settings} | {raw['batches']} | {raw['rows_per_second']:,.0f} "
            f"| {_f(raw['batch_ms']['p50'], 1)} / {_f(raw['batch_ms']['max'], 1)} |"
        )
    return lines + [""]


def render_soak(result: dict) -> list[str]:
    config, totals, checks = result["config"], result["totals"], result["checks"]
    lines = [
        "## Soak with faults: the agent under steady load while its downstreams fail",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}`: {result['load_seconds'] / 60:.1f} min of load, "
        f"{result['cycles']} fault cycle(s). Real processes on loopback: an MLflow server, both "
        "model services following `@production` (TF-IDF and a small DistilBERT in ONNX int8, "
        "trained on the built-in sample: availability is measured, not accuracy) and the agent. "
        f"{config['clients']} clients, each posting a ticket every "
        f"{1 / config['rate_per_client']:.2g} s (natural en/fr/ar tickets, "
        f"{config['forced_share']:.0%} with `force_model`); client timeout "
        f"{config['client_timeout_s']:g} s (longer is a hang). Agent settings (the defaults): "
        f"timeouts TF-IDF {config['tfidf_timeout_s']:g} s, transformer "
        f"{config['transformer_timeout_s']:g} s; breaker opens after "
        f"{config['breaker_failures']} failures, pause {config['breaker_reset_s']:g} s. Each "
        f"cycle: SIGKILL a model service, restart it {config['kill_down_s']:g} s later; SIGSTOP "
        f"the other for {config['freeze_s']:g} s; stop MLflow, restart the first service while "
        "it is down, start MLflow again once the service answers `/health` (at least "
        f"{config['mlflow_down_s']:g} s). Percentiles: the 200 answers; slowest: any answer; "
        "in brackets, the range of the `Retry-After` values.",
        "",
        "| phase | s | requests | 200 | 503 + Retry-After | 503 without | 500 | other "
        "| client timeouts | p50 / p95 / p99 ms | slowest answer ms | downstream errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in [*result["phases"], {**totals, "name": "**all**", "downstream_errors": {}}]:
        o, lat = row["outcomes"], row["latency_200"]
        errors = ", ".join(f"{k} {v}" for k, v in row["downstream_errors"].items())
        wait = row.get("retry_after_s")
        waits = f" ({wait[0]}–{wait[1]} s)" if wait else ""
        lines.append(
            f"| {row['name']} | {row['seconds']:.0f} | {row['requests']:,} | {o['200']:,} "
            f"| {o['503_retry_after']:,}{waits} | {o['503_no_retry_after']} | {o['500']} "
            f"| {o['other'] + o['connection_error']} | {o['client_timeout']} "
            f"| {_f(lat['p50_ms'], 0)} / {_f(lat['p95_ms'], 0)} / {_f(lat.get('p99_ms'), 0)} "
            f"| {_f(row['max_ms_any_answer'], 0)} | {errors} |"
        )

    def after(fault: dict, key: str) -> str:
        value = fault.get(key)
        return "never" if value is None else f"{value - fault['injected_s']:.1f} s"

    lines += [
        "",
        "Per fault, seconds from the fault's start: the breaker seen open and closed again "
        "(agent `/health`, sampled every 0.25 s), the service back (ready again, or SIGCONT), "
        "its first answer through the agent after that.",
        "",
        "| cycle | fault | service | breaker open | breaker closed | service back "
        "| answered again | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fault in result["faults"]:
        notes = ""
        if fault["fault"] == "mlflow_down":
            notes = (
                f"MLflow down {fault['mlflow_down_for_s']:.0f} s; the restarted service answered "
                f"`/health` after {_f(fault['seconds_to_health_while_mlflow_down'], 1)} s "
                f"(\"{fault.get('health_while_mlflow_down')}\", `/ready` "
                f"{fault.get('ready_status_while_mlflow_down')}) and was ready "
                f"{fault['seconds_from_mlflow_back_to_ready']:.1f} s after MLflow was back"
            )
        lines.append(
            f"| {fault['cycle']} | {fault['fault']} | {fault['target']} "
            f"| {after(fault, 'breaker_opened_s')} | {after(fault, 'breaker_closed_s')} "
            f"| {after(fault, 'restored_s')} | {after(fault, 'answered_again_s')} | {notes} |"
        )
    lines += [
        "",
        "| process | RSS at start (MB) | RSS at end (MB) | starts |",
        "|---|---|---|---|",
    ]
    for name, memory in result["rss_mb"].items():
        lines.append(
            f"| {name} | {_f(memory['start_mb'], 0)} | {_f(memory['end_mb'], 0)} "
            f"| {memory['starts']} |"
        )
    agent = result["rss_mb"]["agent"]
    verdict = {True: "yes", False: "**no**"}
    lines += [
        "",
        f"The agent never restarts: RSS {_f(agent['start_mb'], 0)} MB at the start of the load, "
        f"{_f(agent['end_mb'], 0)} MB at the end (peak {_f(agent['peak_mb'], 0)} MB, "
        f"{checks['agent_rss_growth_mb']:+.0f} MB); a restarted service's figures are those of "
        "its first and last process; MLflow's include its job workers.",
        "",
        f"No 500: {verdict[checks['no_500']]}. No hang (client timeout): "
        f"{verdict[checks['no_client_timeout']]}. Every refusal a 503 with `Retry-After`: "
        f"{verdict[checks['every_non_200_is_503_with_retry_after']]}. The breaker of every "
        "killed service opened and closed again: "
        f"{verdict[checks['breaker_opened_and_closed_for_every_killed_service']]}. Every "
        f"faulted service answered again: {verdict[checks['recovered_after_every_fault']]}. "
        "Services restarted while MLflow was down answered `/health` before it was back: "
        f"{verdict[checks['services_started_while_mlflow_down']]}.",
        "",
    ]
    return lines


def render_images(result: dict) -> list[str]:
    base = result["base"]
    lines = [
        "## Container images, built",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs with "
        f"`{result['command']}` (Docker engine {result['engine']}, legacy builder): "
        "`docker/offline/build-images.sh` builds the project's Dockerfiles on "
        f"`{base['name']}` (Debian 12's Python {base['python']}, "
        f"{base['size_bytes'] / 1e6:,.0f} MB, made with debootstrap: no registry here) from a "
        "wheelhouse of the pinned versions. Engine, base and wheelhouse took "
        f"{result['prepare_seconds']:.0f} s (cached after the first run); the builds, from an "
        f"empty layer cache, {result['build_seconds_total']:.0f} s in all.",
        "",
        "| image | size | estimate before any build | build | user | PyTorch inside |",
        "|---|---|---|---|---|---|",
    ]
    for image, entry in result["images"].items():
        estimate = entry["estimate_gb"]
        lines.append(
            f"| {image} | {entry['size_bytes'] / 1e9:.2f} GB | "
            f"{'n/a' if estimate is None else f'{estimate:.2f} GB'} | {entry['build_seconds']} s | "
            f"{entry['user']} (uid {entry['uid_inside']} inside) | "
            f"{'yes' if entry['has_torch'] else 'no'} |"
        )
    return lines + [""]


RENDERERS = {
    "tfidf": render_tfidf,
    "transformer": render_transformer,
    "services": render_services,
    "pii": render_pii,
    "routing": render_routing,
    "agent": render_agent,
    "batch": render_batch,
    "natural_tfidf": render_natural_tfidf,
    "quick_transformer": render_quick_transformer,
    "first_start": render_first_start,
    "code_switching": render_code_switching,
    "store": render_store,
    "feedback_loop": render_feedback_loop,
    "drift": render_drift,
    "soak": render_soak,
    "images": render_images,
}


def render_report() -> Path:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.report` from `reports/benchmarks/*.json`; "
        "each section names the command that measured it.",
        "",
    ]
    for name, renderer in RENDERERS.items():
        path = REPORT_DIR / f"{name}.json"
        if path.exists():
            lines += renderer(json.loads(path.read_text()))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines))
    return REPORT


if __name__ == "__main__":
    print(render_report())
