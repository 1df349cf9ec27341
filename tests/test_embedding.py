"""The built-in hashing embedder."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from victor_core.selection._embedding import Embedder, HashingEmbedder, cosine, stem, tokenize


def test_is_an_embedder() -> None:
    embedder = HashingEmbedder()
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 1024
    assert embedder.name.startswith("hashing-v1-d1024")


def test_vectors_are_dense_normalised_and_ordered() -> None:
    embedder = HashingEmbedder(dim=64)
    vectors = embedder.embed(["read a file", "run the tests", ""])
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert math.isclose(math.fsum(x * x for x in vectors[0]), 1.0, rel_tol=1e-9)
    assert vectors[2] == [0.0] * 64
    assert embedder.embed("read a file") == [vectors[0]]


def test_related_texts_are_closer_than_unrelated_ones() -> None:
    embedder = HashingEmbedder()
    query, same, other = embedder.embed(
        ["reading files", "Read a file from disk and return its text", "Send an email"]
    )
    assert cosine(query, same) > 0.3
    assert cosine(query, same) > cosine(query, other) + 0.2


def test_concept_groups_link_synonyms() -> None:
    with_groups = HashingEmbedder()
    without = HashingEmbedder(concepts=None)
    texts = ["grep for the pattern", "search the code"]
    a, b = with_groups.embed(texts)
    c, d = without.embed(texts)
    assert cosine(a, b) > cosine(c, d)
    assert with_groups.name != without.name


def test_sparse_features_match_dense_vectors() -> None:
    embedder = HashingEmbedder(dim=1 << 12)
    sparse = embedder.features("summarize the long article")
    assert math.isclose(math.fsum(v * v for v in sparse.values()), 1.0, rel_tol=1e-9)
    assert all(0 <= key < 2**31 for key in sparse)
    assert embedder.embed_sparse(["summarize the long article"]) == [sparse]


def test_embeddings_are_the_same_in_another_process() -> None:
    code = (
        "from victor_core.selection._embedding import HashingEmbedder;"
        "print(sorted(HashingEmbedder().features('Run the unit tests').items())[:5])"
    )
    here = str(sorted(HashingEmbedder().features("Run the unit tests").items())[:5])
    there = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    assert there == here


def test_tokenize_and_stem() -> None:
    assert tokenize("readFile and run_tests, HTTPGet") == [
        "read",
        "file",
        "and",
        "run",
        "tests",
        "httpget",
    ]
    assert {stem(w) for w in ("reading", "reads", "read")} == {"read"}
    assert {stem(w) for w in ("files", "file")} == {stem("file")}
    assert stem("running") == "run"
    assert stem("boxes") == "box"
    assert stem("queries") == "query"


@pytest.mark.parametrize("bad", [0, 8, True, "64"])
def test_bad_dim_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="dim must be an int"):
        HashingEmbedder(dim=bad)  # type: ignore[arg-type]


def test_non_string_text_is_rejected() -> None:
    with pytest.raises(TypeError, match="texts must be strings"):
        HashingEmbedder().embed([1])  # type: ignore[list-item]


def test_cosine_of_zero_vector() -> None:
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
