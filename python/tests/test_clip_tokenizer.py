"""sds's CLIP tokenizer against transformers' CLIPTokenizer, both built from the real CLIP BPE
merges that open_clip_torch's wheel ships (bpe_simple_vocab_16e6.txt.gz), on prompts with
punctuation, unicode, whitespace, special tokens and over-long text; in the SD 1 (pad with
<|endoftext|>) and SD 2 (pad with "!") settings, from tokenizer.json and from vocab.json +
merges.txt folders."""
import gzip
import importlib.util
import json
import pathlib

import pytest
import torch

import sds
from tiny_pipeline import byte_characters

transformers = pytest.importorskip("transformers")

PROMPTS = [
    "a photo of a cat",
    "a photo of an astronaut riding a horse on mars",
    "Hello,  World!!  It's 2024",
    "hello!",
    "",
    "   ",
    "A DSLR photo of a corgi, wearing a red hat; highly detailed, 8k, trending on artstation",
    "tab\tand\nnewline\r\n  runs",
    "don't won't they're we've I'm you'll he'd",
    "café crème brûlée naïve",
    "cafe\u0301 (combining accent, NFC)",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ",
    "Ωμέγα Σίσυφος ΣΑΣ",
    "İstanbul DŽungla",
    "北京的一只熊猫 🐼🎉 パンダ",
    "emoji only 🤖🤖🤖",
    "numbers 3.14159 and 1,000,000 and ١٢٣ and ½",
    "<|startoftext|> inside <|endoftext|> text",
    "!<|endoftext|>!",
    "symbols: @#$%^&*()_+-=[]{}|\\:;\"'<>,.?/~`",
    "''quotes'' and ’curly’ “quotes”",
    "non\u00a0breaking\u2003spaces\u3000here",
    " ".join(["word"] * 120),
    "supercalifragilisticexpialidocious " * 10,
]


def clip_vocab_and_merges():
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        pytest.skip("open_clip_torch is not installed (it ships the CLIP BPE merges)")
    path = pathlib.Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    chars = byte_characters()
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(vocab)}, merges


@pytest.fixture(scope="module")
def vocab_and_merges():
    return clip_vocab_and_merges()


def reference_ids(tokenizer, prompts):
    return tokenizer(prompts, padding="max_length", max_length=77, truncation=True,
                     return_tensors="pt").input_ids


def build_reference(vocab, merges, folder, **special):
    ref = transformers.CLIPTokenizer(vocab=vocab, merges=list(merges), **special)
    ref.model_max_length = 77
    ref.save_pretrained(folder)
    return ref


@pytest.mark.parametrize("family,special", [("sd1", {}), ("sd2", {"pad_token": "!"})])
def test_token_ids_match_transformers(tmp_path, vocab_and_merges, family, special):
    vocab, merges = vocab_and_merges
    ref = build_reference(vocab, merges, tmp_path, **special)
    assert (tmp_path / "tokenizer.json").exists()
    ours = sds.models.CLIPTokenizer.load(str(tmp_path))
    expected = reference_ids(ref, PROMPTS)
    got = ours.encode(PROMPTS)
    for prompt, e, g in zip(PROMPTS, expected, got):
        assert torch.equal(g, e), f"{prompt!r}: {g.tolist()} != {e.tolist()}"
    assert ours.pad_id == (0 if family == "sd2" else 49407)


def test_known_ids_of_the_real_vocabulary(tmp_path, vocab_and_merges):
    vocab, merges = vocab_and_merges
    build_reference(vocab, merges, tmp_path)
    ours = sds.models.CLIPTokenizer.load(str(tmp_path))
    assert ours.tokenize("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert ours.tokenize("Hello,  World!!  It's 2024") == [3306, 267, 1002, 748, 585, 568, 273,
                                                           271, 273, 275]
    ids = ours.encode([" ".join(["word"] * 100), ""])
    assert ids.shape == (2, 77)
    assert ids[0, 0] == 49406 and ids[0, 76] == 49407  # truncated with EOS last
    assert ids[1, :3].tolist() == [49406, 49407, 49407]


def test_vocab_json_and_merges_txt_folder(tmp_path, vocab_and_merges):
    """The hub SD 2 layout: vocab.json, merges.txt, tokenizer_config.json padding with "!"."""
    vocab, merges = vocab_and_merges
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"pad_token": "!", "model_max_length": 77, "bos_token": "<|startoftext|>",
         "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}))
    ref = transformers.CLIPTokenizer.from_pretrained(tmp_path)
    ours = sds.models.CLIPTokenizer.load(str(tmp_path))
    assert torch.equal(ours.encode(PROMPTS), reference_ids(ref, PROMPTS))


def test_an_absurd_model_max_length_falls_back(tmp_path, vocab_and_merges):
    vocab, merges = vocab_and_merges
    ref = transformers.CLIPTokenizer(vocab=vocab, merges=list(merges))
    ref.save_pretrained(tmp_path)  # model_max_length 1e30: none was given
    ours = sds.models.CLIPTokenizer.load(str(tmp_path), fallback_max_length=77)
    assert ours.model_max_length == 77


def test_bad_tokenizer_folders_and_text(tmp_path, vocab_and_merges):
    with pytest.raises(sds.Error, match="tokenizer.json, or vocab.json and merges.txt"):
        sds.models.CLIPTokenizer.load(str(tmp_path))
    (tmp_path / "vocab.json").write_text(json.dumps({"a</w>": 0}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b c\n")
    with pytest.raises(sds.Error, match=r"merges.txt:2: a merge is two tokens"):
        sds.models.CLIPTokenizer.load(str(tmp_path))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(sds.Error, match="bos_token \"<|startoftext|>\" is not in the vocabulary"):
        sds.models.CLIPTokenizer.load(str(tmp_path))
