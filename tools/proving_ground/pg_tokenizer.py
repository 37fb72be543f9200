"""A CLIP-style byte-level BPE tokenizer, written as tokenizer.json in the Hugging Face
`tokenizers` format (the layout test/helpers/tiny-clip.ts writes, which transformers.js reads):
the 256 byte-level symbols alone and word-final (`</w>`), then BPE merges, then
`<|startoftext|>` and `<|endoftext|>` (largest id, as in CLIP).

The merges are learned by running BPE training on the known words until each word is a single
symbol; encoding a known word with rank-ordered BPE then gives exactly one token (checked when
the tokenizer is built). Any other text still tokenises (byte-level symbols).
"""
import re

START = '<|startoftext|>'
END = '<|endoftext|>'
MAX_TOKENS = 77


def byte_level_alphabet() -> list:
    out, shifted = [], 0
    for byte in range(256):
        printable = 33 <= byte <= 126 or 161 <= byte <= 172 or 174 <= byte <= 255
        if printable:
            out.append(chr(byte))
        else:
            out.append(chr(256 + shifted))
            shifted += 1
    return out


def _symbols(word: str) -> list:
    symbols = list(word)
    symbols[-1] += '</w>'
    return symbols


def _merge(symbols: list, pair: tuple) -> list:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def learn_merges(words: list) -> list:
    """BPE training on the words (each counted once) until every word is one symbol. Ties go to
    the pair seen first, so the result is deterministic."""
    seqs = [_symbols(w) for w in words]
    merges = []
    while True:
        counts = {}
        for seq in seqs:
            for pair in zip(seq, seq[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            return merges
        best = max(counts.items(), key=lambda kv: kv[1])[0]  # first maximum in insertion order
        merges.append(best)
        seqs = [_merge(seq, best) for seq in seqs]


def bpe(word: str, ranks: dict) -> list:
    """Rank-ordered BPE of one word, as `tokenizers` applies merges."""
    symbols = _symbols(word)
    while len(symbols) > 1:
        pairs = [(ranks.get(p, 1 << 30), p) for p in zip(symbols, symbols[1:])]
        rank, pair = min(pairs)
        if rank == 1 << 30:
            break
        symbols = _merge(symbols, pair)
    return symbols


class Tokenizer:
    def __init__(self, words):
        self.vocab = {}
        self.merges = []
        alphabet = byte_level_alphabet()
        for c in alphabet:
            self._add(c)
        for c in alphabet:
            self._add(c + '</w>')
        self.words = []
        for raw in words:
            word = raw.lower()
            if not re.fullmatch(r'[a-z]+', word):
                raise ValueError(f'word {raw!r} is not made of ASCII letters')
            if word not in self.words:
                self.words.append(word)
        for left, right in learn_merges(self.words):
            self.merges.append([left, right])
            self._add(left + right)
        self._add(START)
        self._add(END)
        ranks = {(a, b): i for i, (a, b) in enumerate(self.merges)}
        for word in self.words:
            got = bpe(word, ranks)
            if got != [word + '</w>']:
                raise AssertionError(f'BPE splits {word!r} into {got}')

    def _add(self, token: str) -> None:
        if token not in self.vocab:
            self.vocab[token] = len(self.vocab)

    @property
    def start_id(self) -> int:
        return self.vocab[START]

    @property
    def end_id(self) -> int:
        return self.vocab[END]

    def encode(self, text: str) -> list:
        """Token ids of a text made of known words: start, one id per word, end."""
        ids = [self.start_id]
        for word in re.findall(r'[a-z]+', text.lower()):
            if word not in self.words:
                raise ValueError(f'training text uses unknown word {word!r}')
            ids.append(self.vocab[word + '</w>'])
        ids.append(self.end_id)
        return ids

    def batch(self, texts):
        """(input_ids, attention_mask) as lists, padded with the end token to the longest text."""
        seqs = [self.encode(t) for t in texts]
        n = max(len(s) for s in seqs)
        ids = [s + [self.end_id] * (n - len(s)) for s in seqs]
        mask = [[1] * len(s) + [0] * (n - len(s)) for s in seqs]
        return ids, mask

    def tokenizer_json(self) -> dict:
        def special(content):
            return {'id': self.vocab[content], 'content': content, 'single_word': False, 'lstrip': False,
                    'rstrip': False, 'normalized': True, 'special': True}

        return {
            'version': '1.0',
            'truncation': None,
            'padding': None,
            'added_tokens': [special(START), special(END)],
            'normalizer': {'type': 'Sequence', 'normalizers': [
                {'type': 'NFC'},
                {'type': 'Replace', 'pattern': {'Regex': '\\s+'}, 'content': ' '},
                {'type': 'Lowercase'},
            ]},
            'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
                {'type': 'Split', 'pattern': {'Regex': "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
                 'behavior': 'Removed', 'invert': True},
                {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False},
            ]},
            'post_processor': {'type': 'RobertaProcessing', 'sep': [END, self.end_id], 'cls': [START, self.start_id],
                               'trim_offsets': False, 'add_prefix_space': False},
            'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
            'model': {'type': 'BPE', 'dropout': None, 'unk_token': END, 'continuing_subword_prefix': '',
                      'end_of_word_suffix': '</w>', 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                      'vocab': self.vocab, 'merges': self.merges},
        }

    def tokenizer_config(self) -> dict:
        return {'tokenizer_class': 'CLIPTokenizer', 'bos_token': START, 'eos_token': END, 'unk_token': END,
                'pad_token': END, 'model_max_length': MAX_TOKENS, 'do_lower_case': True, 'add_prefix_space': False,
                'clean_up_tokenization_spaces': False, 'errors': 'replace'}
