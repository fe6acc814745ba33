"""The ONNX backend: the embedding model exported to ONNX once (int8 when it agrees with the original), run by
ONNX Runtime one sequence at a time, so a text's vector never depends on what it is embedded with.

Why one sequence per run: dynamic int8 quantisation scales activations per tensor, i.e. per padded batch, so in
batches of 8 or 32 a text's vector moved by up to 0.043 in a component with its batch-mates (issue 15), and two
evaluations of one dataset on one index disagreed. Run alone, a text is quantised on its own values only: its vector
is bit-identical whatever else is embedded, in any process. The intra-op thread counts are fixed (EMBED_THREADS for
a lone text, INGEST_THREADS for each of the INGEST_RUNS parallel runs over many texts), not taken from the machine's
cores. Measured on 2 cores shared with other jobs (load 8-17), 800 HS passage texts
(eval/bench_embed.py does the same comparison):
  - ingest: int8 in batches of 8 (before) 121 texts/s; one sequence per run 73 texts/s sequentially, 120 texts/s
    with two runs in parallel (measured on two sessions; embed() runs INGEST_RUNS at once on its ingest session);
    fp32 in batches of 32 73 texts/s, one per run 33. The full US corpus (about 34,600 passages, cold cache)
    re-ingested in 589 s with this code, its 26,103 HTS lines at 97 passages/s including the Chroma writes.
  - a query (ATLAS dev, ~80 chars) is one run either way: int8 7.4 ms (15 ms with one thread).
  - max difference alone vs in the batch: 0.0 one per run (fp32 batched was also 0.0; int8 batched up to 0.043).
  - agreement with fp32 (800 HS texts): mean cosine 0.9940 one per run, 0.9938 in batches of 8.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..config import offline_env
from ..errors import BackendUnavailable
from .embed import MAX_TOKENS, SentenceTransformerEmbedder, model_label, normalise

log = logging.getLogger(__name__)

EMBED_THREADS = 2  # intra-op threads of a single text's run (a query), on any machine
INGEST_RUNS = 2  # sequences embedded at once, each in its own run: ingest throughput without shared batches
# Intra-op threads of each of those runs. 1 and 2 give bit-identical vectors on MiniLM (checked on 1,300 dev texts,
# and by the alone-or-among-many test); on 2 cores, two runs of one thread embed 1,300 texts in 3.5-3.8 s against
# 4.3-4.7 s for two runs of two threads (oversubscribed), while a lone query is twice as fast with two threads.
INGEST_THREADS = 1
# Texts to check the exported ONNX model against the original one before trusting it.
_PROBES = [
    "Men's or boys' T-shirts of cotton, knitted or crocheted",
    "Portable automatic data processing machines, weighing not more than 10 kg",
    "Other",
    "Chapter 61, Note 2: This chapter does not cover articles of chapter 62",
    "Polyethylene terephthalate film laminated to polyethylene, for packaging",
    "Live horses, asses, mules and hinnies: Horses: Purebred breeding animals",
    "Stainless steel screws for wood; bolts, nuts, washers and similar articles of iron or steel",
    "Frozen boneless fish fillets of Alaska pollock",
]


class OnnxEmbedder:
    """The same model exported to ONNX (optionally int8-quantised) and run by ONNX Runtime: several times faster."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, *, name: str):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self._onnx_path = Path(onnx_path)
        self.session = self._session(EMBED_THREADS)
        self._ingest_session = None  # one-thread runs for many texts at once, opened on first use
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.name = name
        # What the cache keys on: a change of model file, precision, recipe or runtime gives new entries.
        self.identity = (f"{name}|onnx={_file_digest(Path(onnx_path))}|tokenizer={_file_digest(Path(tokenizer_path))}"
                         f"|per-sequence|threads={EMBED_THREADS}|max_tokens={MAX_TOKENS}|ort={ort.__version__}")
        self._pool = ThreadPoolExecutor(INGEST_RUNS, thread_name_prefix="embed") if INGEST_RUNS > 1 else None
        self.dim = int(self._run([101, 102]).shape[-1])

    def _session(self, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # cores are shared: do not spin
        try:
            return ort.InferenceSession(str(self._onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a damaged cached export: say where it is
            raise BackendUnavailable(f"cannot load {self._onnx_path} ({exc}); delete it to re-export") from exc

    @classmethod
    def for_model(cls, model_path: str, *, cache_dir: Path, quantize: bool = True) -> "OnnxEmbedder":
        """Export `model_path` once into `cache_dir` (int8 unless it disagrees with the original) and load it."""
        if not (Path(model_path) / "tokenizer.json").exists() or not _mean_pooling(model_path):
            raise BackendUnavailable(f"{model_path}: the ONNX runtime needs a fast tokenizer and mean pooling; "
                                     "set TARIFF_EMBEDDING_RUNTIME=torch")
        onnx_path = _exported_model(model_path, Path(cache_dir) / "onnx" / model_label(model_path), quantize=quantize)
        variant = "int8" if onnx_path.name == "model-int8.onnx" else "fp32"
        return cls(onnx_path, Path(model_path) / "tokenizer.json", name=f"{model_label(model_path)}+onnx-{variant}")

    def _run(self, ids: list[int], session=None) -> np.ndarray:
        """The mean-pooled vector of one sequence, run alone (no padding, no batch-mates)."""
        input_ids = np.asarray([ids], np.int64)
        feed = {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids),
                "token_type_ids": np.zeros_like(input_ids)}
        hidden = (session or self.session).run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        return hidden[0].mean(axis=0, dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """One normalised vector per text, each computed in its own run: the same bits alone or among many."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encoded = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        if self._pool is None or len(encoded) == 1:
            rows = [self._run(ids) for ids in encoded]
        else:  # ONNX Runtime releases the GIL: runs in parallel threads share the session, never a tensor
            if self._ingest_session is None:
                self._ingest_session = self._session(INGEST_THREADS)
            session = self._ingest_session
            rows = list(self._pool.map(lambda ids: self._run(ids, session), encoded))
        return normalise(np.stack(rows))


@lru_cache(maxsize=8)
def _file_digest(path: Path) -> str:
    """First 16 hex digits of the file's sha256 (the exported model is written once, then only read)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _mean_pooling(model_path: str) -> bool:
    cfg = Path(model_path) / "1_Pooling" / "config.json"
    if not cfg.exists():
        return True  # plain transformers checkpoints are pooled by mean in sentence-transformers too
    return bool(json.loads(cfg.read_text()).get("pooling_mode_mean_tokens"))


def _exported_model(model_path: str, folder: Path, *, quantize: bool) -> Path:
    """The ONNX file for `model_path`, exported (and quantised) on first use and kept in `folder`."""
    fp32 = folder / "model-fp32.onnx"
    int8 = folder / "model-int8.onnx"
    rejected = folder / "int8-rejected"
    if quantize and int8.exists():
        return int8
    if quantize and rejected.exists() and fp32.exists():
        return fp32
    if not quantize and fp32.exists():
        return fp32
    folder.mkdir(parents=True, exist_ok=True)
    log.warning("exporting %s to ONNX (once) into %s", model_path, folder)
    if not fp32.exists():
        _export_fp32(model_path, fp32)
    if not quantize:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = folder / f"model-int8.{os.getpid()}.tmp.onnx"
    # Only weight MatMuls, per channel: quantising the attention products too costs ~5 points of cosine.
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True})
    agreement = _agreement(model_path, tmp)
    if agreement < 0.99:
        log.warning("int8 model agrees with the original at cosine %.4f < 0.99; using fp32", agreement)
        tmp.unlink(missing_ok=True)
        rejected.write_text(f"{agreement:.4f}\n")
        return fp32
    os.replace(tmp, int8)
    return int8


def _export_fp32(model_path: str, target: Path) -> None:
    offline_env()
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover
        raise BackendUnavailable(f"exporting the embedding model needs torch and transformers ({exc})") from exc

    class _Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    model = AutoModel.from_pretrained(model_path, local_files_only=True).eval()
    sample = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encoder(model), (sample, sample, torch.zeros_like(sample)), str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17, dynamo=False,
        )
    os.replace(tmp, target)


def _agreement(model_path: str, onnx_path: Path) -> float:
    """Mean cosine between the ONNX model and sentence-transformers on a few tariff texts."""
    reference = SentenceTransformerEmbedder(model_path).embed(_PROBES)
    probe = OnnxEmbedder(onnx_path, Path(model_path) / "tokenizer.json", name="probe")
    return float((probe.embed(_PROBES) * reference).sum(axis=1).mean())
