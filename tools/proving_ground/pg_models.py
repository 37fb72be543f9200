"""Small models for the proving ground: the black-box CNN classifier and a CLIP-like dual encoder.

All take 224x224 RGB input normalised per channel, and cost about 19 M multiply-adds per image
(4x4 patchify stem, then 3x3 convolutions down to a 7x7 map), so that a SALF-CBM demo can
prompt hundreds of images at 49 grid positions each on two CPU cores.
"""
import torch
from torch import nn
import torch.nn.functional as F


def conv_bn(cin: int, cout: int, k: int, s: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=s, padding=(k - 1) // 2 if k == 3 else 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Trunk(nn.Module):
    """224 -> 56 (4x4 patches) -> 28 -> 14 -> 7; output C x 7 x 7."""

    def __init__(self, width: int = 16, out: int = 96):
        super().__init__()
        self.layers = nn.Sequential(
            conv_bn(3, width, 4, 4),  # 56x56
            conv_bn(width, 2 * width, 3, 2),  # 28x28
            conv_bn(2 * width, 3 * width, 3, 2),  # 14x14
            conv_bn(3 * width, 3 * width, 3, 1),
            conv_bn(3 * width, out, 3, 2),  # 7x7
            conv_bn(out, out, 3, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Classifier(nn.Module):
    """The black box: trunk -> `features` (N x 96 x 7 x 7) -> global average pool -> `logits`."""

    def __init__(self, classes: int, width: int = 16, channels: int = 96):
        super().__init__()
        self.trunk = Trunk(width, channels)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor):
        features = self.trunk(x)
        logits = self.head(features.mean(dim=(2, 3)))
        return logits, features


class VisionTower(nn.Module):
    """Trunk, multi-head attention pooling over the 7x7 map (lets the red circle steer where the
    embedding looks), projection to the embedding width."""

    def __init__(self, embed_dim: int = 64, width: int = 16, channels: int = 96, heads: int = 4,
                 global_mean: bool = True):
        super().__init__()
        self.trunk = Trunk(width, channels)
        self.score = nn.Conv2d(channels, heads, 1)
        self.global_mean = global_mean
        self.proj = nn.Linear(heads * channels + (channels if global_mean else 0), embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.trunk(x)  # N C H W
        n, c, h, w = f.shape
        flat = f.reshape(n, c, h * w)  # N C P
        weights = torch.softmax(self.score(f).reshape(n, -1, h * w), dim=2)  # N heads P
        pooled = torch.bmm(weights, flat.transpose(1, 2)).reshape(n, -1)  # N heads*C
        if not self.global_mean:
            return self.proj(pooled)
        return self.proj(torch.cat([pooled, flat.mean(dim=2)], dim=1))


class TextTower(nn.Module):
    """Bag of tokens: embeddings, mean over attended tokens, two-layer MLP to the embedding."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, width: int = 64):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, embed_dim))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.to(torch.float32).unsqueeze(2)
        e = self.token_embedding(input_ids) * m
        pooled = e.sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return self.mlp(pooled)


class DualEncoder(nn.Module):
    """`width` and `channels` size the vision trunk (the committed model: 16 and 96)."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, global_mean: bool = True, width: int = 16,
                 channels: int = 96):
        super().__init__()
        self.vision = VisionTower(embed_dim, width, channels, global_mean=global_mean)
        self.text = TextTower(vocab_size, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))  # log(1/0.07), as CLIP

    def similarity(self, pixels, input_ids, attention_mask) -> torch.Tensor:
        """Logits of every image-text pair: learned scale (at most 100) times the cosine."""
        img = F.normalize(self.vision(pixels), dim=1)
        txt = F.normalize(self.text(input_ids, attention_mask), dim=1)
        return self.logit_scale.clamp(max=4.6052).exp() * img @ txt.t()
