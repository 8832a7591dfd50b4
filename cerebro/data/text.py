"""Text columns -> fixed-length int32 token-id sequences, in Spark, reproducibly.

Tokenization: Spark's ``RegexTokenizer`` (lower-cased, split on runs of ASCII whitespace
and ASCII punctuation, empty tokens dropped). Vocabulary: Spark's ``CountVectorizer``
(the most frequent words, over every row of the prepared DataFrame). Ids: ``0`` pads,
``1`` is a word not in the vocabulary, ``2 + i`` is ``vocabulary[i]``; each row keeps its
first ``sequence_length`` tokens and is padded at the end with 0 (AutoKeras's
``TextTokenizer`` pads the same way).

:class:`TextEncoding` holds everything needed to do it again: it is saved in the prepared
dataset's record and applied by ``predict`` to raw strings, on a DataFrame (Spark's
tokenizer again) or on a list of strings (:meth:`TextEncoding.encode`, the same regular
expression in Python's ``re``: the character class below reads identically in Java and
Python).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Optional, Sequence

import numpy as np

# ASCII whitespace and ASCII punctuation (Java's \p{Punct}); written out so that Java's
# and Python's regular expressions read it the same way.
PATTERN = "[ \\t\\n\\x0B\\f\\r!-/:-@\\[-`{-~]+"
PAD, OOV = 0, 1
DEFAULT_SEQUENCE_LENGTH = 100  # AutoKeras's TextTokenizer(max_len=100)
DEFAULT_VOCABULARY_SIZE = 20_001


@dataclasses.dataclass(frozen=True)
class TextSettings:
    """How a text column is tokenized (the part that is chosen before seeing the data).

    Attributes:
        sequence_length: Tokens kept per row (padded / truncated to it).
        vocabulary_size: Ids are ``< vocabulary_size`` (it counts the pad and OOV ids).
        lowercase: Lower-case before splitting.
    """

    sequence_length: int = DEFAULT_SEQUENCE_LENGTH
    vocabulary_size: int = DEFAULT_VOCABULARY_SIZE
    lowercase: bool = True

    def __post_init__(self) -> None:
        for name in ("sequence_length", "vocabulary_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name[0] == "s" else 3):
                raise ValueError(f"TextSettings.{name} must be a positive int "
                                 f"(vocabulary_size >= 3), got {v!r}")


@dataclasses.dataclass(frozen=True)
class TextEncoding:
    """A fitted tokenization: settings plus the vocabulary Spark computed."""

    sequence_length: int
    vocabulary: tuple[str, ...]
    lowercase: bool = True
    pattern: str = PATTERN

    @property
    def vocabulary_size(self) -> int:
        """Number of distinct ids (pad, OOV and the words)."""
        return len(self.vocabulary) + 2

    def to_json(self) -> dict[str, Any]:
        return {"sequence_length": self.sequence_length, "vocabulary": list(self.vocabulary),
                "lowercase": self.lowercase, "pattern": self.pattern, "pad_id": PAD,
                "oov_id": OOV, "first_word_id": 2}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TextEncoding":
        return cls(int(d["sequence_length"]), tuple(d["vocabulary"]), bool(d["lowercase"]),
                   d.get("pattern", PATTERN))

    # -- Python side (workers of a Spark job, or the driver for numpy input) ---------------
    def tokens(self, text: Optional[str]) -> list[str]:
        """Tokens of one string, exactly as Spark's ``RegexTokenizer`` splits it."""
        if text is None:
            return []
        text = text.lower() if self.lowercase else text
        return [t for t in re.split(self.pattern, text) if t]

    def ids(self, token_lists: Iterable[Optional[Sequence[str]]]) -> np.ndarray:
        """Token lists -> ``(n, sequence_length)`` int32 ids (truncated / zero-padded)."""
        lookup = self._lookup()
        rows = list(token_lists)
        out = np.zeros((len(rows), self.sequence_length), np.int32)
        for i, toks in enumerate(rows):
            if toks is not None and len(toks):  # lists, or numpy arrays from pandas
                ids = [lookup.get(t, OOV) for t in toks[:self.sequence_length]]
                out[i, :len(ids)] = ids
        return out

    def encode(self, texts: Iterable[Optional[str]]) -> np.ndarray:
        """Raw strings -> ``(n, sequence_length)`` int32 ids, without Spark."""
        return self.ids(self.tokens(t) for t in texts)

    def _lookup(self) -> dict[str, int]:
        cached = self.__dict__.get("_lookup_cache")
        if cached is None:
            cached = {w: i + 2 for i, w in enumerate(self.vocabulary)}
            object.__setattr__(self, "_lookup_cache", cached)
        return cached

    # -- Spark side ---------------------------------------------------------------------
    def tokenize(self, df, column: str, output: str):
        """``df`` plus ``output``: the ``array<string>`` tokens of ``column``, by Spark."""
        return tokenize(df, column, output, self.lowercase, self.pattern)


def tokenize(df, column: str, output: str, lowercase: bool = True, pattern: str = PATTERN):
    """Spark's ``RegexTokenizer`` on ``column`` (null strings give no tokens)."""
    from pyspark.ml.feature import RegexTokenizer
    from pyspark.sql import functions as F

    tmp = output + "__src"
    df = df.withColumn(tmp, F.coalesce(F.col(f"`{column}`"), F.lit("")))
    tok = RegexTokenizer(inputCol=tmp, outputCol=output, pattern=pattern, gaps=True,
                         toLowercase=lowercase, minTokenLength=1)
    return tok.transform(df).drop(tmp)


def fit(df, column: str, settings: TextSettings) -> TextEncoding:
    """Computes the vocabulary of ``column`` with Spark's ``CountVectorizer`` (one job).

    Raises:
        ValueError: the column holds no token at all.
    """
    from pyspark.ml.feature import CountVectorizer

    tokens = "__cerebro_tokens"
    tokenized = tokenize(df.select(f"`{column}`"), column, tokens, settings.lowercase)
    model = CountVectorizer(inputCol=tokens, outputCol=tokens + "_counts",
                            vocabSize=settings.vocabulary_size - 2, minDF=1.0).fit(tokenized)
    vocabulary = tuple(model.vocabulary)
    if not vocabulary:
        raise ValueError(f"text column {column!r} holds no words (every row is empty or "
                         "punctuation only)")
    return TextEncoding(settings.sequence_length, vocabulary, settings.lowercase)
