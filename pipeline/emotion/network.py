"""The expression network (PyTorch; used for training and export only, never at run time)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.emotion.labels import LABELS


class _Standardize(nn.Module):
    """Per-image zero mean / unit variance, inside the graph so that inference needs no stats."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-4)


class _Block(nn.Module):
    """Pre-activation-free basic residual block (conv-bn-relu-conv-bn + shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ExpressionNet(nn.Module):
    """Small ResNet for 48x48 grayscale faces -> 8 expression logits.

    ``widths`` sets channels per stage; the first stage runs at 24x24 (stride-2 stem) to keep
    inference under a few ms per face on two CPU cores.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        blocks: int = 1,
        num_classes: int = 8,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.standardize = _Standardize()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.Conv2d(widths[0], widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        c_in = widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks):
                layers.append(_Block(c_in, width, 2 if (i == 0 and stage > 0) else 1))
                c_in = width
        self.stages = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C): the pooled features the head reads (rebalance.py re-fits the head on them)."""
        x = self.stages(self.stem(self.standardize(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class LogitAverage(nn.Module):
    """Several independently trained networks scored as one: the mean of their logits.

    Why: networks of the same recipe trained from different seeds err on different faces, so
    their average is more accurate than any one of them; on two CPU cores that is cheaper to get
    than one larger network trained for longer. Each member still runs at its own cost per face.
    """

    def __init__(self, members: list[ExpressionNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


class SpecialistMix(nn.Module):
    """General networks score every expression; class-balanced specialists re-score the rare ones.

    Why: a network trained with class-balanced weights (pipeline/emotion/balance.py) finds
    more contempt, disgust and fear faces but loses about 2.6 points of accuracy, mostly on
    the common expressions, and averaging its logits with unweighted networks dilutes what it
    adds. Taking only the rare columns from it keeps the general network's answers on the
    common expressions and puts the rare ones' scores where a small per-class bias
    (pipeline/emotion/adjust.py) separates them (README: "The expression model").

    forward: float32 (N, 1, 48, 48) faces in [0, 1] -> (N, 8) scores in ``LABELS`` order: the
    general members' mean log-probabilities with the rare columns replaced by the
    specialists' mean; softmax makes probabilities of them.
    """

    def __init__(
        self,
        general: list[ExpressionNet],
        specialists: list[ExpressionNet],
        rare_columns: list[int],
        num_classes: int = len(LABELS),
    ) -> None:
        super().__init__()
        if not general or not specialists:
            raise ValueError("a specialist mix needs general networks and specialists")
        self.general = nn.ModuleList(general)
        self.specialists = nn.ModuleList(specialists)
        mask = torch.zeros(num_classes)
        mask[rare_columns] = 1.0
        self.register_buffer("rare_mask", mask)
        self.rare_mask: torch.Tensor  # registered above; typed for mypy with torch installed

    def mix(
        self, general_logits: Sequence[torch.Tensor], specialist_logits: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """The mixed scores (N, 8) from each member's logits (N, 8) of the same faces, in the
        order the members were given; export scores the graph with it from logits it already
        has, without running the members again."""
        general = torch.stack([F.log_softmax(z, dim=1) for z in general_logits]).mean(dim=0)
        rare = torch.stack([F.log_softmax(z, dim=1) for z in specialist_logits]).mean(dim=0)
        return general + self.rare_mask * (rare - general)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(
            [member(x) for member in self.general], [member(x) for member in self.specialists]
        )


class ExportWrapper(nn.Module):
    """What ships: temperature-scaled probabilities of one view of the face.

    With ``flip`` the graph also averages the logits of the face and its mirror image inside
    (as models up to 2026.12.07-f08577e7 shipped); export now leaves that out and the
    classifier scores the mirror image only of unsure faces (pipeline/emotion/mirror.py). The
    temperature is fitted on validation so that the probabilities are calibrated.
    """

    def __init__(
        self,
        net: ExpressionNet | LogitAverage | SpecialistMix,
        temperature: float,
        flip: bool = False,
        bias: torch.Tensor | None = None,
        num_classes: int = len(LABELS),
        calibrated: bool = True,
    ) -> None:
        super().__init__()
        self.net = net
        self.flip = flip
        # Without it the graph ends at the flip-averaged scores: int8 export quantizes that
        # and appends the calibration afterwards (pipeline/emotion/quantize.py).
        self.calibrated = calibrated
        self.register_buffer("inv_temperature", torch.tensor(1.0 / temperature))
        # Per-class logit bias added after calibration (pipeline/emotion/adjust.py), if any.
        self.register_buffer("bias", torch.zeros(num_classes) if bias is None else bias.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        if self.flip:
            logits = 0.5 * (logits + self.net(torch.flip(x, dims=[3])))
        if not self.calibrated:
            return logits
        return torch.softmax(logits * self.inv_temperature + self.bias, dim=1)
