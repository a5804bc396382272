"""The embedding model exported to ONNX, for a query path that never imports torch.

Usage::

    export_dir = export_onnx(st_model, model_path, cache_root)   # at build time (needs torch)
    embedder = OnnxEmbedder.load(name, export_dir)                # at query time (onnxruntime only)

``export_onnx`` traces the sentence-transformers model's transformer with mean
pooling and L2 normalisation folded into the graph, then fuses it with ONNX
Runtime's transformer optimizer.  It runs once per model and weights: the export
lives in ``cache_root/<key>/``, where the key hashes the model name and the size
and modification time of its weight files, so edited weights get a new export.
The tokenizer is the model's own ``tokenizer.json`` run by ``tokenizers`` with the
same truncation (``max_seq_length``) as sentence-transformers, so both paths give
the same vectors (tests/test_embedder_onnx.py checks it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import ModelError

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
_EXPORT_FORMAT = 1
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_key(name: str, model_path: Path) -> str:
    """Cache key of a model: its name plus size and mtime of every weight and config file.

    Stat data rather than a content hash keeps cold start cheap (no 90 MB read);
    any change to the files changes their mtime, hence the key.
    """
    h = hashlib.sha256(f"{_EXPORT_FORMAT}\0{name}\0{model_path.resolve()}".encode())
    for path in sorted(model_path.rglob("*")):
        if path.is_file() and (path.suffix in _WEIGHT_SUFFIXES or path.suffix == ".json"):
            st = path.stat()
            h.update(f"\0{path.relative_to(model_path)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    slug = "".join(c if c.isalnum() else "-" for c in name.rsplit("/", 1)[-1]).strip("-")[:40]
    return f"{slug}-{h.hexdigest()[:16]}"


def find_export(cache_root: Path, name: str, model_path: Path) -> Path | None:
    """The complete export directory for this model under ``cache_root``, if there is one."""
    directory = cache_root / export_key(name, model_path)
    return directory if (directory / META_FILE).is_file() else None


def supports_export(st_model) -> str | None:
    """Why ``st_model`` cannot be exported faithfully, or None when it can."""
    kinds = [type(module).__name__ for module in st_model]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return f"modules {kinds} (only Transformer + mean Pooling [+ Normalize] is exported)"
    pooling = st_model[1]
    mode = getattr(pooling, "pooling_mode", None) or (
        "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else "other"
    )
    if mode != "mean":
        return f"pooling mode {mode!r} (only mean pooling is exported)"
    if getattr(st_model[0], "do_lower_case", False):
        return "do_lower_case is set"
    if not hasattr(st_model[0], "auto_model"):
        return "transformer module has no auto_model"
    return None


def export_onnx(st_model, name: str, model_path: Path, cache_root: Path) -> Path:
    """Export ``st_model`` (a SentenceTransformer loaded from ``model_path``) under ``cache_root``.

    Returns the export directory (reused if it exists).  Written to a temporary
    directory and renamed into place, so a crash never leaves a half export.

    Raises:
        ModelError: the model's architecture cannot be exported faithfully.
    """
    import torch

    existing = find_export(cache_root, name, model_path)
    if existing is not None:
        return existing
    reason = supports_export(st_model)
    if reason:
        raise ModelError(f"cannot export {name!r} to ONNX: {reason}")
    tokenizer_json = model_path / TOKENIZER_FILE
    if not tokenizer_json.is_file():
        raise ModelError(f"cannot export {name!r} to ONNX: {tokenizer_json} is missing")

    transformer = st_model[0].auto_model
    # Eager attention traces to plain MatMul/Softmax, which ONNX Runtime fuses into its
    # Attention kernel; the SDPA path exports to a graph the optimizer cannot fuse.
    previous_attn = getattr(transformer.config, "_attn_implementation", None)
    if hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")

    class Pooled(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            # Exactly sentence-transformers' Pooling(mean) then Normalize.
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    cache_root.mkdir(parents=True, exist_ok=True)
    target = cache_root / export_key(name, model_path)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_root))
    try:
        sample = st_model.tokenizer(["an example", "a second, longer example text"], padding=True, return_tensors="pt")
        if "token_type_ids" not in sample:
            raise ModelError(f"cannot export {name!r} to ONNX: its tokenizer gives no token_type_ids")
        raw = work / "raw.onnx"
        dynamic = {k: {0: "batch", 1: "tokens"} for k in _INPUTS}
        dynamic["embedding"] = {0: "batch"}
        import warnings

        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about shape checks that are constant here
            torch.onnx.export(
                Pooled(transformer).eval(),
                tuple(sample[k] for k in _INPUTS),
                str(raw),
                input_names=list(_INPUTS),
                output_names=["embedding"],
                dynamic_axes=dynamic,
                opset_version=17,
                dynamo=False,
            )
        _optimize(raw, work / MODEL_FILE, transformer.config)
        raw.unlink()
        shutil.copyfile(tokenizer_json, work / TOKENIZER_FILE)
        meta = {
            "format": _EXPORT_FORMAT,
            "model": name,
            "model_path": str(model_path),
            "dimension": int(st_model.get_embedding_dimension()),
            "max_seq_length": int(st_model.max_seq_length),
            "pad_id": int(st_model.tokenizer.pad_token_id or 0),
            "pad_token": str(st_model.tokenizer.pad_token or "[PAD]"),
            "weights_sha256": _weights_sha256(model_path),
        }
        (work / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            os.replace(work, target)
        except OSError:
            if not (target / META_FILE).is_file():  # lost a race with another exporter: fine
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if previous_attn and hasattr(transformer, "set_attn_implementation"):
            transformer.set_attn_implementation(previous_attn)
    log.info("exported %s to ONNX in %s", name, target)
    return target


def _optimize(source: Path, target: Path, config) -> None:
    """Fuse attention, GELU and layer norms with ONNX Runtime's BERT optimizer (portable level)."""
    try:
        from onnxruntime.transformers import optimizer

        model = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            opt_level=1,  # level 1 fusions are hardware-independent; the session adds the rest
        )
        model.save_model_to_file(str(target))
    except Exception as exc:  # an unfused model is still correct, only slower
        log.warning("ONNX optimizer failed (%s); using the unoptimised export", exc)
        shutil.copyfile(source, target)


def _weights_sha256(model_path: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(model_path.rglob("*")):
        if path.is_file() and path.suffix in _WEIGHT_SUFFIXES:
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


class OnnxEmbedder:
    """Runs an export made by ``export_onnx`` with onnxruntime and tokenizers."""

    def __init__(self, name: str, directory: Path, *, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        self.name = name
        self.dimension = int(meta["dimension"])
        self.weights_sha256 = meta.get("weights_sha256")  # of the (verified) weights it was exported from
        self.directory = directory
        self._tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        # Same truncation as sentence-transformers: max_seq_length tokens, special tokens included.
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=meta["pad_token"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads would otherwise spin for a while after each call, taking CPU
        # from the bot, faiss and anything else on a small shared machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        # The tokenizer object is not documented as safe for concurrent calls that
        # reconfigure it; encode_batch is, but keep the whole call serialised like the torch path.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = list(texts)
        # Sorted by length so each batch pads little; rows are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        with self._lock:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                encodings = self._tokenizer.encode_batch([texts[i] for i in rows])
                feed = {
                    "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
                }
                out[rows] = self._session.run(None, feed)[0]
        return out


def load_onnx_embedder(name: str, cache_root: Path, model_path: Path) -> OnnxEmbedder:
    """The ONNX embedder for ``name`` from ``cache_root``.

    Raises:
        ModelError: there is no export for this model and weights yet.
    """
    directory = find_export(cache_root, name, model_path)
    if directory is None:
        raise ModelError(
            f"no ONNX export of {name!r} in {cache_root}; build the index (python -m index build) "
            'to create it, or set [index] backend = "torch"'
        )
    try:
        return OnnxEmbedder(name, directory)
    except Exception as exc:
        raise ModelError(f"cannot load the ONNX export in {directory}: {exc}".splitlines()[0]) from exc
