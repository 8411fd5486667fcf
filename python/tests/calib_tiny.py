"""A character-level tokenizer and a three-script corpus for calibration tests (no downloads).

One token per character makes tokens per UTF-8 byte differ by script, as real tokenizers do:
English 1 token/byte, Hebrew ≈ 0.5 (2-byte letters), Chinese ≈ 0.33 (3-byte characters).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

EN = [
    "All human beings are born free and equal in dignity and rights.",
    "They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.",
    "Everyone has the right to life, liberty and security of person.",
]
HE = [
    "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.",
    "כולם חוננו בתבונה ובמצפון, לפיכך חובה עליהם לנהוג איש ברעהו ברוח של אחוה.",
]
ZH = [
    "人人生而自由,在尊严和权利上一律平等。",
    "他们赋有理性和良心,并应以兄弟关系的精神相对待。",
    "人人有权享有生命、自由和人身安全。",
]


def corpus(digest: str = "test-digest") -> dict:
    return {"source": "test", "split": "train", "digest": digest, "languages": {"en": EN, "he": HE, "zh": ZH}}


class CharTokenizer:
    """id = 1 + index of the character in a fixed alphabet (0 is reserved); decode is exact."""

    def __init__(self, texts: list[str], vocab: int = 300):
        chars = sorted({c for t in texts for c in t})
        if len(chars) + 1 > vocab:
            raise ValueError(f"alphabet of {len(chars)} characters does not fit vocab {vocab}")
        self.ids = {c: i + 1 for i, c in enumerate(chars)}
        self.chars = {i: c for c, i in self.ids.items()}
        self.pad_token_id = 0

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": [self.ids[c] for c in text]}

    def decode(self, ids) -> str:
        return "".join(self.chars.get(int(i), "") for i in ids)


def tokenizer() -> CharTokenizer:
    return CharTokenizer(EN + HE + ZH + ["\n"])


def loaded(model, tok=None, max_positions: int = 256) -> SimpleNamespace:
    """What quantize_model_* need from a LoadedModel."""

    return SimpleNamespace(model=model, tokenizer=tok or tokenizer(), device=torch.device("cpu"),
                           dtype=torch.float32, max_positions=max_positions, spec={"id": "tiny"}, fingerprint="tiny")


def hf_byte_tokenizer():
    """A byte-level transformers tokenizer (256 tokens, no merges) that save_pretrained can write."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    eos = sorted(alphabet)[0]
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=eos)
