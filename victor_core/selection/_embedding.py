"""Text embedders: the :class:`Embedder` protocol and the built-in :class:`HashingEmbedder`.

Tool selection and memory consolidation turn text into vectors and compare
them by cosine similarity. The built-in embedder needs nothing beyond the
standard library: it hashes words, word pairs and character n-grams into a
fixed number of dimensions (the "hashing trick"), weights them like TF-IDF
(sub-linear term frequency, common words dropped, rarer feature kinds weighted
up) and L2-normalises the result. It is fast (tens of microseconds per
sentence) and good at matching queries to tool descriptions that share words
or word stems. A plugin can provide a better embedder through the
``victor_embedder(settings)`` hook, for example one backed by
sentence-transformers where it is installed.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

from victor_core.exceptions import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "CONCEPTS",
    "STOP_WORDS",
    "Embedder",
    "HashingEmbedder",
    "cosine",
    "stem",
    "tokenize",
]


@runtime_checkable
class Embedder(Protocol):
    """What an embedder implements.

    Attributes:
        name: identifies the model and its configuration; embedding caches key
            on it, so two embedders with the same name must give the same vectors.
        dim: the length of every vector.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of length ``dim`` per text, in order."""
        ...


#: Words too common to tell tools apart; they carry no weight.
STOP_WORDS = frozenset(
    # A word list reads better as text than as 130 quoted items.
    """
    a about above after all also am an and any are as at be been before being but by can
    could did do does doing done for from get gets had has have having he her here hers
    him his how i if in into is it its itself just let me more most my no nor not now of
    off on once only or other our ours out over own please same she should so some such
    than that the their theirs them then there these they this those through to too
    under until up us very via want was we were what when where which while who whom why
    will with would you your yours
    """.split()  # noqa: SIM905
)

#: Groups of words that name the same action or thing in requests to an agent's
#: tools. A word of a group also yields the group's feature, so "show main.py"
#: meets "read a file" without sharing a word. Pass ``concepts=`` to replace them.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "read": ("read", "show", "display", "view", "open", "print", "cat", "contents", "inspect"),
    "write": ("write", "save", "store", "overwrite", "persist", "put"),
    "list": ("list", "ls", "enumerate", "which", "browse"),
    "folder": ("directory", "folder", "dir", "tree"),
    "search": ("search", "find", "grep", "locate", "lookup", "where", "occurrence", "pattern"),
    "code": ("code", "codebase", "source", "repository", "repo", "program", "function"),
    "test": ("test", "pytest", "unittest", "passing", "failing", "suite", "coverage"),
    "change": ("diff", "change", "modified", "modification", "uncommitted", "delta", "edit"),
    "commit": ("commit", "checkin", "stage", "staged"),
    "web": ("http", "fetch", "download", "web", "url", "page", "website", "internet", "api"),
    "mail": ("email", "mail", "inbox", "recipient"),
    "summary": ("summarize", "summarise", "summary", "brief", "tldr", "overview", "condense"),
    "language": ("translate", "translation", "language", "french", "spanish", "german"),
    "math": (
        "calculate",
        "compute",
        "arithmetic",
        "math",
        "plus",
        "minus",
        "times",
        "multiply",
        "divide",
        "number",
        "sum",
        "expression",
    ),
    "style": ("lint", "linter", "style", "ruff", "flake8", "pylint", "warning"),
    "format": ("format", "formatter", "reformat", "prettify", "indent", "black"),
    "data": ("database", "sql", "db", "table", "rows", "select", "records", "sqlite"),
    "issue": ("issue", "bug", "ticket", "crash", "defect", "tracker"),
    "delete": ("delete", "remove", "erase", "rm", "unlink", "drop"),
    "run": ("run", "execute", "launch", "invoke", "start"),
    "install": ("install", "dependency", "package", "pip", "requirement"),
    "error": ("error", "exception", "traceback", "failure", "stacktrace"),
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")
# Longest first, so "ization" wins over "ion"; each keeps a stem of 3+ letters.
_SUFFIXES = (
    "ization",
    "ational",
    "ations",
    "ation",
    "ments",
    "ment",
    "ings",
    "ing",
    "ers",
    "ies",
    "ied",
    "es",
    "ed",
    "er",
    "ly",
    "s",
)


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text``; ``camelCase`` and ``snake_case`` split into words."""
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude suffix-stripping stem: ``"reading"``, ``"reads"`` and ``"read"`` give ``"read"``."""
    if len(word) <= 3 or word.isdigit():
        return word
    base = word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix == "es" and not base.endswith(("s", "x", "z", "ch", "sh")):
                base = word[:-1]  # "files" -> "file", but "boxes" -> "box"
            elif suffix in ("ies", "ied"):
                base += "y"
            elif len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiousl":
                base = base[:-1]  # "running" -> "run"
            break
    if len(base) > 3 and base.endswith("e"):
        base = base[:-1]  # "create", "created" and "creates" meet at "creat"
    return base


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = math.fsum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(math.fsum(x * x for x in a))
    nb = math.sqrt(math.fsum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


#: The CRC-32 of the character n-gram features' prefix, ``"c:"``.
_CHAR_PREFIX = zlib.crc32(b"c:")


class HashingEmbedder:
    """Hashed word, word-pair and character n-gram features, TF-IDF-like weights.

    Args:
        dim: number of dimensions (a power of two keeps collisions even).
        char_ngrams: lengths of the character n-grams taken from each word
            (they match word variants the stemmer misses: ``"config"`` and
            ``"configuration"``).
        word_weight: weight of a (stemmed) word.
        pair_weight: weight of two consecutive words (word order, phrases).
        char_weight: weight of each character n-gram.
        concepts: groups of related words (default :data:`CONCEPTS`); None for none.
        concept_weight: weight of a word's group feature.

    ``embed`` is deterministic across processes (CRC-32 hashing, not ``hash()``).
    """

    #: Vectors are sparse: tool selection indexes their non-zero entries.
    sparse = True
    #: Computing a vector is cheaper than a round trip to the embedding cache.
    cache_embeddings = False

    def __init__(
        self,
        dim: int = 1024,
        *,
        char_ngrams: tuple[int, ...] = (3, 4),
        word_weight: float = 1.0,
        pair_weight: float = 0.6,
        char_weight: float = 0.2,
        concepts: dict[str, tuple[str, ...]] | None = CONCEPTS,
        concept_weight: float = 0.8,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or not 16 <= dim <= 1 << 20:
            raise InvalidArgumentError(
                f"dim must be an int between 16 and 1048576 (got {dim!r})",
                argument="dim",
                value=dim,
            )
        if not char_ngrams or any(not isinstance(n, int) or n < 2 for n in char_ngrams):
            raise InvalidArgumentError(
                f"char_ngrams must be ints of at least 2 (got {char_ngrams!r})",
                argument="char_ngrams",
                value=char_ngrams,
            )
        self.dim = dim
        self.char_ngrams = tuple(char_ngrams)
        self.word_weight = float(word_weight)
        self.pair_weight = float(pair_weight)
        self.char_weight = float(char_weight)
        self.concept_weight = float(concept_weight)
        self._concept_of: dict[str, str] = {}
        for group, words in (concepts or {}).items():
            for word in words:
                self._concept_of.setdefault(stem(word.lower()), group)
        table = zlib.crc32(repr(sorted((concepts or {}).items())).encode())
        grams = "".join(map(str, self.char_ngrams))
        self.name = (
            f"hashing-v1-d{dim}-c{grams}-w{word_weight:g}-{pair_weight:g}-{char_weight:g}"
            f"-k{concept_weight:g}-{table:08x}"
        )
        self._word_features = lru_cache(maxsize=65536)(self._compute_word_features)

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim}, char_ngrams={self.char_ngrams})"

    # -- features ----------------------------------------------------------------------

    @staticmethod
    def _slot(feature: str) -> tuple[int, float]:
        h = zlib.crc32(feature.encode("utf-8"))
        # Sparse vectors keep 31 bits of the hash (next to no collisions); dense
        # ones fold them into ``dim``. The top bit gives a sign, so features
        # that do collide cancel out on average instead of adding up.
        return h & 0x7FFFFFFF, (1.0 if h & 0x80000000 else -1.0)

    def _compute_word_features(self, word: str) -> tuple[tuple[int, float], ...]:
        out: list[tuple[int, float]] = []
        base = stem(word)
        index, sign = self._slot("w:" + base)
        out.append((index, sign * self.word_weight))
        group = self._concept_of.get(base)
        if group is not None:
            index, sign = self._slot("g:" + group)
            out.append((index, sign * self.concept_weight))
        padded = f"<{word}>"
        # The same hashes as _slot("c:" + gram), without building each string:
        # crc32 continues from the prefix's; ASCII n-grams are byte slices.
        ascii_bytes = padded.encode("ascii") if padded.isascii() else None
        crc32 = zlib.crc32
        up, down = self.char_weight, -self.char_weight
        for n in self.char_ngrams:
            for i in range(len(padded) - n + 1):
                if ascii_bytes is not None:
                    gram = ascii_bytes[i : i + n]
                else:
                    gram = padded[i : i + n].encode("utf-8")
                h = crc32(gram, _CHAR_PREFIX)
                out.append((h & 0x7FFFFFFF, up if h & 0x80000000 else down))
        return tuple(out)

    def features(self, text: str) -> dict[int, float]:
        """The sparse, L2-normalised vector of ``text``: ``{feature hash: value}``.

        Keys are 31-bit feature hashes; :meth:`embed` folds them into ``dim``.
        """
        words = [w for w in tokenize(text) if w not in STOP_WORDS]
        counts: dict[int, float] = {}
        for word in words:
            for index, value in self._word_features(word):
                counts[index] = counts.get(index, 0.0) + value
        for first, second in itertools.pairwise(words):
            index, sign = self._slot(f"p:{stem(first)} {stem(second)}")
            counts[index] = counts.get(index, 0.0) + sign * self.pair_weight
        # Sub-linear term frequency: a word said five times is not five times as relevant.
        vector: dict[int, float] = {}
        for index, value in counts.items():
            if value:
                magnitude = abs(value)
                if magnitude > 1.0:
                    magnitude = 1.0 + math.log(magnitude)
                vector[index] = magnitude if value > 0 else -magnitude
        norm = math.sqrt(sum(v * v for v in vector.values()))
        if norm:
            for index in vector:
                vector[index] /= norm
        return vector

    def terms(self, text: str) -> set[str]:
        """The stemmed content words of ``text`` (all its words when it has no others).

        Memory consolidation compares only facts that share a rare term.
        """
        tokens = tokenize(text)
        return {stem(w) for w in tokens if w not in STOP_WORDS} or set(tokens)

    def embed_sparse(self, texts: Sequence[str]) -> list[dict[int, float]]:
        """:meth:`features` of each text: sparse vectors over 31-bit feature hashes."""
        return [self.features(text) for text in _as_list(texts)]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One dense, L2-normalised vector of length ``dim`` per text.

        A single string is accepted too and gives a list of one vector.
        """
        dim = self.dim
        out: list[list[float]] = []
        for sparse in self.embed_sparse(texts):
            dense = [0.0] * dim
            for index, value in sparse.items():
                dense[index % dim] += value
            norm = math.sqrt(sum(v * v for v in dense))
            out.append([v / norm for v in dense] if norm else dense)
        return out


def _as_list(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise ArgumentTypeError(
                f"texts must be strings: one, or a sequence of them (got an item {item!r})",
                argument="texts",
                value=item,
            )
    return items
