"""Project-wide fixtures: the shared data folder, and session runtimes with HS 2022 or the full US corpus indexed.

Runtimes are real: chromadb on a temporary TARIFF_HOME and the packaged MiniLM model. The embedding cache lives in
<repo>/.tariff/test-embed-cache (git-ignored; TARIFF_EMBED_CACHE_DIR overrides it) and is shared by every session,
so only the first run on a machine pays for embedding the corpus.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

# Offline, quiet, and one embedding cache for every test session (and the `tariff` subprocesses tests start).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TARIFF_EMBED_CACHE_DIR", str(REPO / ".tariff" / "test-embed-cache"))
# The session runtimes are shared by many apps and databases: one test's decision must not become a precedent that
# changes another test's answers (tests of that feature turn it on for their own runtime).
os.environ["TARIFF_LEARN_FROM_DECISIONS"] = "false"
# Homes the suite builds by a first start hold HS 2022 (seconds, not a minute); the default US corpus has its own
# tests (tests/corpus/), which name it explicitly.
os.environ["TARIFF_CORPUS"] = "hs2022"
for _name in ("TARIFF_HOME", "TARIFF_CHROMA_URL", "TARIFF_COLLECTION", "TARIFF_CORPUS_DIR"):
    os.environ.pop(_name, None)  # a developer's own home or Chroma server must never leak into the tests

# Helpers shared by test folders (tests/llm_server.py) import as top-level modules under any --import-mode.
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# The real app on a fresh database with a key per role (tests/app_fixtures.py): used by api/, review/ and store/.
pytest_plugins = ["app_fixtures"]

US_SOURCES = {  # source kind -> path under shared/data
    "hts": "usitc_hts_2025/htsdata_raw.csv",
    "notes": "usitc_hts_2025/chapters_pdf",
    "gri": "htsus_legal_notes/general_rules_of_interpretation.json",
    "rulings": "cbp_rulings_sample/ny_rulings_fulltext.jsonl",
}


PRIOR_SOURCE = "atlas_cross_eval/cross_code_frequency_stat_suffix_index.json"  # code counts of past rulings


def shared_data_dir() -> Path:
    return Path(os.environ.get("TARIFF_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $TARIFF_SHARED_DATA); the test is skipped when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip("needs ../shared/data (see its README)")
    return path


def open_runtime(home: Path):
    """A Runtime on `home` (settings built explicitly, never from the environment's TARIFF_HOME)."""
    from assistant.config import Settings
    from assistant.runtime import Runtime

    return Runtime.open(Settings(home=home, _env_file=None), auto_ingest=False)


@pytest.fixture(scope="session")
def hs_runtime(tmp_path_factory: pytest.TempPathFactory):
    """A Runtime on a temporary home with HS 2022 indexed (the embedded default corpus, as a first run does)."""
    from assistant.config import Settings
    from assistant.runtime import Runtime

    return Runtime.open(Settings(home=tmp_path_factory.mktemp("hs-home"), _env_file=None), auto_ingest=True)


@pytest.fixture(scope="session")
def us_runtime(tmp_path_factory: pytest.TempPathFactory, shared_data: Path):
    """A Runtime with the full US corpus: HS 2022, the HTS 2025 CSV, chapter-note PDFs, GRIs and CBP rulings."""
    runtime = open_runtime(tmp_path_factory.mktemp("us-home"))
    runtime.ingest("hs2022", progress=False)
    for kind, rel in US_SOURCES.items():
        runtime.ingest(kind, shared_data / rel, progress=False)
    from assistant.sources.prior import load_prior_source, save_prior

    save_prior(runtime.settings.home, load_prior_source(shared_data / PRIOR_SOURCE))
    return runtime
