"""Measure: what rendering one post's Markdown costs (app/post_rendering.py), in process.

A post is rendered when it is written, and ``flask posts render --all`` renders
every post again, so these figures are the cost of a write and, times the
number of posts, of a re-render. Prints the median and 90th percentile per
call for typical posts, and the time of one call for bodies of the largest
length built to be slow to parse (deep nesting, unclosed brackets and emphasis,
many links), so a change to the parser or its options can be checked for
inputs that cost far more than their length.

    .venv/bin/python scripts/bench_post_rendering.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.cli import WORDS
from app.post_rendering import render
from app.validation import BODY_MAX

# A post of the kind the site's authors write: about 700 characters, most of the syntax.
TYPICAL = """# Running Flask under mod_wsgi

Daemon mode keeps the app in **its own processes**, apart from Apache's
workers; see the [mod_wsgi docs](https://modwsgi.readthedocs.io/) and
https://flask.palletsprojects.com/ for the details.

## What to set

- `processes` and `threads`: 2 x 5 here
- `python-home`: the venv, made with the *same* Python as mod_wsgi
- `WSGIApplicationGroup %{GLOBAL}` for C extensions

```python
from app import create_app

application = create_app("production")
```

> Reload with `touch wsgi_app.wsgi`: the daemons restart, Apache does not.

| setting | value |
|:--|--:|
| processes | 2 |
| threads | 5 |

That's all; questions to ops@example.org.
"""


def _plain(words: int) -> str:
    # The bench data's posts: plain sentences of the project's words.
    return " ".join(WORDS[i % len(WORDS)] for i in range(words)) + "."


def _hard_inputs() -> dict[str, str]:
    fill = BODY_MAX
    return {
        "nested quotes": ">" * fill,
        "nested lists": "".join("  " * i + "- x\n" for i in range(200))[:fill],
        "unclosed brackets": "[" * fill,
        "unclosed emphasis": "*a " * (fill // 3),
        "alternating emphasis": "*_" * (fill // 2),
        "link references": "[a][b] " * (fill // 7),
        "bare URLs": "https://example.org/a " * (fill // 22),
        "bare addresses": "a@b.cc " * (fill // 7),
        "backticks": "`" * fill,
        "entities": "&#x61;" * (fill // 6),
        "raw HTML": "<b>" * (fill // 3),
        "table": "a|b\n-|-\n" + "x|y\n" * ((fill - 8) // 4),
    }


def _time(call: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    rounds = parser.parse_args().rounds

    print(f"Per call, {rounds} calls each (median, 90th percentile):")
    for name, body in [
        (f"typical post ({len(TYPICAL)} chars)", TYPICAL),
        ("bench data post (60 words)", _plain(60)),
    ]:
        times = sorted(_time(lambda body=body: render(body), rounds))
        median = statistics.median(times) * 1e6
        p90 = times[int(len(times) * 0.9)] * 1e6
        print(f"  {name:40} {median:8.0f} us {p90:8.0f} us")

    print(f"Inputs of {BODY_MAX} characters built to be slow (best of 3):")
    for name, body in _hard_inputs().items():
        best = min(_time(lambda body=body: render(body), 3))
        print(f"  {name:40} {best * 1000:8.1f} ms  ({len(render(body).html):,} chars of HTML)")


if __name__ == "__main__":
    main()
