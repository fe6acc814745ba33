"""An oracle model for measuring the LLM engine's ceiling: an OpenAI-compatible server on loopback that knows the gold.

    python eval/oracle_llm.py DATASET [--port N] [--accuracy P] [--seed S]          # serve until Ctrl-C
    python eval/oracle_llm.py DATASET --eval [--strategy walk|oneshot] [--limit N]   # serve, run `tariff eval`, stop
        [--leave-out-source NAME] [--log steps.jsonl]

For the dataset item whose description is quoted in the prompt, it answers every step with the gold option whenever
one is offered: the gold heading (heading step), or "none fits" when the gold heading is not offered and the step's
schema lets the model say so; the gold code, else its longest offered ancestor (chapter, subheading and line steps;
the gold line in the one-shot prompt); else, at every step, the offered code sharing the most leading
digits with the gold, if at least its heading (what a perfect model would choose when the gold line is not
offered, or retired since the ruling). Otherwise it answers the first option, as a model with nothing better would. With --accuracy P each
answer is right only with probability P (else a random other option), seeded by (seed, item, step, options) so a
run is the same in any order. It cites the chosen option's id, so its answers pass the engine's checks.

Usage numbers are counted here, conservatively: the larger of characters / 4 and the number of words and
punctuation marks (dotted codes cost several tokens in real tokenizers). The reply's system_fingerprint names the
oracle, so `tariff eval` labels the run an oracle run. Loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluation.dataset import EvalItem, load_dataset  # noqa: E402

FINGERPRINT = "tariff-oracle"
NONE = "none"  # the pseudo-option of a heading step whose schema has `none_fits`
_QUOTED = re.compile(r"<<<DESCRIPTION\n(.*?)\nDESCRIPTION>>>", re.DOTALL)
_OPTION = re.compile(r"^\s*([A-Z]\d+) \| ([\d.]+) \|", re.MULTILINE)


def count_tokens(text: str) -> int:
    return max(math.ceil(len(text) / 4), len(re.findall(r"\w+|[^\w\s]", text)))


class Oracle:
    """Chooses, for one chat request, what a model that knows the gold (right with probability P) would answer."""

    def __init__(self, items: list[EvalItem], *, accuracy: float = 1.0, seed: int = 0):
        self.by_description = {self._norm(i.description): i for i in items}
        self.accuracy, self.seed = accuracy, seed
        self.label = f"{FINGERPRINT} accuracy={accuracy:g} seed={seed}"
        self.log: list[tuple[str | None, str, list[str], str | None]] = []  # (item id, step, offered, answered)

    @staticmethod
    def _norm(text: str) -> str:
        return " ".join(text.replace(">\u200b>>", ">>>").split())

    def item(self, prompt: str) -> EvalItem | None:
        quoted = _QUOTED.search(prompt)
        return self.by_description.get(self._norm(quoted.group(1))) if quoted else None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request.get("messages") or []
        prompt = "\n".join(str(m.get("content") or "") for m in messages)
        step = ((request.get("response_format") or {}).get("json_schema") or {}).get("name") or "classification"
        user = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
        if "Your answer has these problems" in user:  # a repair turn: the options are in the first user message
            user = next(str(m.get("content") or "") for m in messages if m.get("role") == "user")
        options = [(cid, code.replace(".", "")) for cid, code in _OPTION.findall(user)]
        schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
        if options and "none_fits" in (schema.get("properties") or {}):
            options.append(("", NONE))
        item = self.item(prompt)
        if not options:
            self.log.append((item.id if item else None, step, [], None))
            return self._reply(step, None, None, "no options were offered")
        pick = self.pick(item, step, options)
        cid, code = options[pick]
        self.log.append((item.id if item else None, step, [c for _, c in options], code))
        why = "the gold option" if item and self._is_gold(item, step, code) else "not the gold option"
        return self._reply(step, code, cid, why)

    def pick(self, item: EvalItem | None, step: str, options: list[tuple[str, str]]) -> int:
        """Index of the option to answer: the best for the gold, or (with probability 1 - P) a random other one."""
        best = self.best(item, step, options) if item else None
        if best is None:
            return 0
        if self.accuracy >= 1.0 or len(options) == 1:
            return best
        key = f"{self.seed}|{item.id}|{step}|{','.join(c for _, c in options)}"
        rng = random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))
        if rng.random() < self.accuracy:
            return best
        return rng.choice([i for i in range(len(options)) if i != best])

    @staticmethod
    def best(item: EvalItem, step: str, options: list[tuple[str, str]]) -> int | None:
        gold = item.gold
        codes = [code for _, code in options]
        if step == "heading":
            return codes.index(gold[:4]) if gold[:4] in codes else codes.index(NONE) if NONE in codes else None
        if gold in codes:
            return codes.index(gold)
        ancestors = [i for i, c in enumerate(codes) if gold.startswith(c)]
        if ancestors:
            return max(ancestors, key=lambda i: len(codes[i]))
        shared = [len(os.path.commonprefix([c, gold])) for c in codes]
        if max(shared) >= 4:  # the gold line is not offered (or retired): the closest one, as a perfect model would
            return shared.index(max(shared))
        return None

    @staticmethod
    def _is_gold(item: EvalItem, step: str, code: str) -> bool:
        if code == NONE:
            return False
        return code[:4] == item.gold[:4] if step == "heading" else item.gold.startswith(code) or code == item.gold

    def _reply(self, step: str, code: str | None, cid: str | None, why: str) -> dict[str, Any]:
        chosen = [] if code in (None, NONE) else [{"code": code, "confidence": 0.9, "cited_ids": [cid],
                                                   "rationale": f"Oracle: {why}."}]
        key = {"heading": "headings", "chapter": "chapters"}.get(step, "suggestions")
        out: dict[str, Any] = {key: chosen, "clarifying_question": None, "clarifying_options": []}
        if code == NONE:
            out["none_fits"] = True
        if step in ("subheading", "line"):
            out["excluded_by"] = None
        return out


class OracleServer:
    """The oracle behind the OpenAI chat-completions wire format (JSON and server-sent events) on 127.0.0.1."""

    def __init__(self, oracle: Oracle, *, port: int = 0):
        handler = type("Handler", (_Handler,), {"oracle": oracle})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> OracleServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    oracle: Oracle
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        self._json(200, {"object": "list", "data": [{"id": "oracle", "object": "model", "owned_by": "eval"}]})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        try:
            request = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}})
        text = json.dumps(self.oracle.answer(request))
        prompt = "\n".join(str(m.get("content") or "") for m in request.get("messages") or [])
        usage = {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        head = {"id": f"chatcmpl-oracle-{time.monotonic_ns()}", "created": int(time.time()),
                "model": request.get("model") or "oracle", "system_fingerprint": self.oracle.label}
        if not request.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            return self._json(200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        pieces = [{"role": "assistant", "content": ""}, *({"content": text[i:i + 16]} for i in range(0, len(text), 16))]
        for delta in pieces:
            self._event({**head, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._event({**head, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (request.get("stream_options") or {}).get("include_usage"):
            self._event({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, chunk: dict) -> None:
        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--accuracy", type=float, default=1.0, help="probability that each answer is right")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", action="store_true", help="run `tariff eval DATASET --engine llm` against it")
    parser.add_argument("--strategy", default="walk", help="TARIFF_LLM_STRATEGY for --eval: walk | oneshot")
    parser.add_argument("--limit", type=int, default=None, help="--eval: only the first N items")
    parser.add_argument("--out", type=Path, default=None, help="--eval: report folder")
    parser.add_argument("--leave-out-source", action="append", default=[], metavar="NAME",
                        help="--eval: never retrieve precedents of this ingested source (the dataset's own); repeatable")
    parser.add_argument("--log", type=Path, default=None,
                        help="write what each step offered and what the oracle answered (JSONL: id, step, offered, "
                             "answered) to this file, to see where the gold is lost")
    args = parser.parse_args(argv)
    if not 0.0 <= args.accuracy <= 1.0:
        parser.error("--accuracy must be between 0 and 1")
    oracle = Oracle(load_dataset(args.dataset), accuracy=args.accuracy, seed=args.seed)
    with OracleServer(oracle, port=args.port) as server:
        if not args.eval:
            print(f"{oracle.label} serving {args.dataset} at {server.base_url} (Ctrl-C stops)", file=sys.stderr)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                return 0
        env = {**os.environ, "TARIFF_LLM_BASE_URL": server.base_url, "TARIFF_LLM_MODEL": "oracle",
               "TARIFF_LLM_API_KEY": "not-needed", "TARIFF_LLM_STRATEGY": args.strategy, "TARIFF_LLM_CACHE": "false"}
        out = args.out or Path("eval/reports") / (
            f"oracle-{args.dataset.stem}-{args.strategy}-p{args.accuracy:g}" + (f"-n{args.limit}" if args.limit else ""))
        command = [sys.executable, "-m", "assistant", "eval", str(args.dataset), "--engine", "llm", "--out", str(out)]
        command += ["--limit", str(args.limit)] if args.limit else []
        command += [a for name in args.leave_out_source for a in ("--leave-out-source", name)]
        code = subprocess.call(command, env=env, cwd=ROOT)
    if args.log:
        with args.log.open("w", encoding="utf-8") as fh:
            for ident, step, offered, answered in oracle.log:
                fh.write(json.dumps({"id": ident, "step": step, "offered": offered, "answered": answered}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
