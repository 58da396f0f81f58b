"""Time to first token of `ask` against the same llama.cpp server called directly with the same prompt.

Builds the synthetic archive of bench/synthetic.py (default 1 500 h, ~13 M words, 750 episodes), indexes it, starts
llama.cpp's server with the packaged SmolLM2-135M, and for each question:

  * fonoteca: ChatTurn.prepare() (search with a lenient OR-of-keywords query, excerpts, memory, prompt) and its
    stream until the first token — what `fonoteca ask` and POST /api/chat do;
  * direct: the very same messages sent straight to the server with the plain `openai` client, until the first token.

Both streams are closed at their first token (which also exercises cancellation). llama.cpp reuses the KV cache of
the previous prompt's prefix, so before each measured call a one-token request of another prompt empties it: both
sides then evaluate the whole prompt, as a fresh question does. The order still alternates per question.
fonoteca's overhead is everything before the model request (prepare), and must stay under 150 ms at p95.
Writes bench/results/chat.txt.

    python bench/chat.py [--hours 1500] [--questions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import openai
from synthetic import build_synthetic_archive

from fonoteca.app import Fonoteca
from fonoteca.llm.server import LocalServer, free_port

TARGET_OVERHEAD_MS = 150
RESULTS = Path(__file__).resolve().parent / "results" / "chat.txt"


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return pick(0.50), pick(0.95), pick(0.99)


async def fonoteca_first_token(fonoteca: Fonoteca, question: str) -> tuple[float, float, list]:
    """(overhead ms, time to first token ms, the prompt sent) for one fresh conversation."""
    started = time.perf_counter()
    turn = fonoteca.chat_turn(question)
    await turn.prepare()
    events = turn.events()
    try:
        async for event in events:
            if event.event == "token":
                break
            if event.event == "error":
                raise RuntimeError(event.data["message"])
    finally:
        await events.aclose()
    return turn.prepared_in * 1000, (time.perf_counter() - started) * 1000, turn.prompt


async def direct_first_token(direct: openai.AsyncOpenAI, model: str, messages: list, max_tokens: int) -> float:
    started = time.perf_counter()
    stream = await direct.chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=max_tokens, stream=True
    )
    try:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
    finally:
        await stream.close()
    return (time.perf_counter() - started) * 1000


async def evict_prompt_cache(direct: openai.AsyncOpenAI, model: str, i: int) -> None:
    await direct_first_token(direct, model, [{"role": "user", "content": f"{i} ok"}], 1)


async def run(args: argparse.Namespace, settings, vocabulary: list[str], server: LocalServer) -> list[str]:
    rng = random.Random(7)
    mid = vocabulary[300:8000]
    templates = ["¿Qué se dijo sobre {a} y {b}?", "¿Cuándo hablaron de {a}?", "What did they say about {a} and {b}?"]
    questions = [rng.choice(templates).format(a=rng.choice(mid), b=rng.choice(mid)) for _ in range(args.questions + 1)]
    direct = openai.AsyncOpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
    overheads, ours, theirs, gaps = [], [], [], []
    with Fonoteca(settings) as fonoteca:
        model = fonoteca.llm.check().model
        for i, question in enumerate(questions):
            if i % 2 == 0:
                await evict_prompt_cache(direct, model, i)
                overhead, ttft, prompt = await fonoteca_first_token(fonoteca, question)
                await evict_prompt_cache(direct, model, i)
                plain = await direct_first_token(direct, model, prompt, 512)
            else:
                # The prompt depends on retrieval only, so it is built first and the direct call goes before ours.
                probe = fonoteca.chat_turn(question)
                await probe.prepare()
                await evict_prompt_cache(direct, model, i)
                plain = await direct_first_token(direct, model, probe.prompt, 512)
                await evict_prompt_cache(direct, model, i)
                overhead, ttft, prompt = await fonoteca_first_token(fonoteca, question)
            if i == 0:
                continue  # warm-up: first index open, first connection
            if not prompt:
                raise RuntimeError(f"nothing retrieved for {question!r}: the benchmark needs excerpts")
            overheads.append(overhead)
            ours.append(ttft)
            theirs.append(plain)
            gaps.append(ttft - plain)
    await direct.close()
    rows = [
        ("fonoteca overhead (retrieval + prompt)", percentiles(overheads)),
        ("time to first token, fonoteca ask", percentiles(ours)),
        ("time to first token, server directly", percentiles(theirs)),
        ("difference (ask - direct), per question", percentiles(gaps)),
    ]
    lines = [f"{'measure':<44}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"]
    lines += [f"{name:<44}{p50:>10.1f}{p95:>10.1f}{p99:>10.1f}" for name, (p50, p95, p99) in rows]
    p95 = percentiles(overheads)[1]
    verdict = "PASS" if p95 < TARGET_OVERHEAD_MS else "FAIL"
    lines.append(f"\noverhead p95 {p95:.1f} ms vs target {TARGET_OVERHEAD_MS} ms: {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1500)
    parser.add_argument("--episodes", type=int, default=750)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update bench/results/chat.txt")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fonoteca-chat-bench-"))
    settings, vocabulary = build_synthetic_archive(home, hours=args.hours, episodes=args.episodes)
    with Fonoteca(settings) as fonoteca:
        started = time.perf_counter()
        fonoteca.update_index()
        print(f"indexed in {time.perf_counter() - started:.1f} s")
    with LocalServer(port=free_port(), context=args.ctx) as server:
        settings = settings.replace(llm_base_url=server.base_url, llm_context=args.ctx)
        lines = asyncio.run(run(args, settings, vocabulary, server))
    header = [
        "bench/chat.py — time to first token of `ask` vs the same llama.cpp server called directly, same prompt",
        f"archive: synthetic, {args.hours:g} h, {args.episodes} episodes; {args.questions} questions (+1 warm-up); "
        f"model: packaged SmolLM2-135M Q4_1, n_ctx {args.ctx}",
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
    ]
    report = "\n".join(header + lines) + "\n"
    print(report)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
