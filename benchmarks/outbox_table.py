"""The table benchmarks/outbox.py prints: one column per database."""

from __future__ import annotations

LATENCY = 0.05


#: (label, format, key) per size; {size} in a label is the row count.
_PER_SIZE = [
    ("drain {size:,}: queries/message", "{:.3f}", "drain_queries_per_msg"),
    ("drain {size:,}: messages/s", "{:,.0f}", "drain_msg_per_s"),
    ("drain {size:,}, --concurrency 2: messages/s", "{:,.0f}", "drain_c2_msg_per_s"),
    (
        "drain {size:,}, dummy backend (no provider ids): messages/s",
        "{:,.0f}",
        "drain_no_ids_msg_per_s",
    ),
    ("drain {size:,}: memory peak (MB)", "{:.1f}", "memory_mb"),
]
_ONCE = [
    (
        "enqueue in a transaction: queries per send_sms()",
        "{:.2f}",
        "enqueue_atomic_all",
    ),
    (
        "enqueue in autocommit: queries per send_sms()",
        "{:.2f}",
        "enqueue_autocommit_all",
    ),
    ("enqueue: send_sms() calls/s (autocommit)", "{:,.0f}", "enqueue_autocommit_per_s"),
]


def table(results: dict[str, dict], sizes: list[int]) -> str:
    """Return ``results`` (figures per database) as an aligned text table."""
    rows = [("", *results)]
    for label, fmt, key in _ONCE:
        rows.append((label, *(fmt.format(r[key]) for r in results.values())))
    for size in sizes:
        for label, fmt, key in _PER_SIZE:
            cells = (fmt.format(r["sizes"][str(size)][key]) for r in results.values())
            rows.append((label.format(size=size), *cells))
    ms = f"{LATENCY * 1000:.0f} ms provider"
    for threads in (1, 8):
        cells = (f"{r[f'c{threads}_msg_per_s']:.1f}" for r in results.values())
        rows.append((f"{ms}, concurrency {threads}: msg/s", *cells))
    cells = (f"{r['c8_msg_per_s'] / r['c1_msg_per_s']:.1f}x" for r in results.values())
    rows.append(("concurrency 8 / concurrency 1", *cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
