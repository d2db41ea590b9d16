"""The SR head: CAM branch, foreground prediction map (FPM) generator, fusion and losses.

The SR paper's head and losses (sr_core/README.md#method). The head sits on any backbone that
implements the seam, `sr_core.models.seam.Backbone` (`forward_loc`, `stage4`, `norm`,
`loc_channels`, `out_channels`). Every module of the method is a switch in `SRHeadConfig`, so
the ablations are configurations, not forks:

    full SR                      defaults
    no non-linear modulation     modulation=False
    no FPM fusion (M_A alone)    fusion=False
    BAS background suppression   control="background"
    plain CAM                    fpm=False (no FPM branch, no FPM losses)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from sr_core.models.layers import minmax
from sr_core.models.seam import Backbone

CONTROL_MODES = ("foreground", "background", "none")


@dataclass
class SRHeadConfig:
    """Switches, weights and margins of the SR head (defaults from the SR paper, sr_core/README.md#method)."""

    head_channels: int = 1024
    # The CAMs' last activation. The paper's head ends in ReLU; trained from scratch, a class
    # whose map falls below zero everywhere gets no gradient again, and on NIH data all eight
    # classes died within six epochs (CE stuck at ln 8). Softplus keeps the maps positive
    # (the control ratio S_fg / S needs that) and never stops the gradient. "relu" gives the
    # published head exactly.
    cam_activation: str = "softplus"
    fpm: bool = True  # False: plain CAM, no FPM branch and no FPM losses
    # Let the FPM losses (ce_fpm, control, area) train the backbone through x_loc, as
    # the paper has it. From scratch on NIH the area and control terms each collapse the
    # features (benchmarks/TRAINING_NOTES.md §5-6); False trains the FPM branch on detached
    # features instead.
    fpm_feature_grad: bool = True
    # Which FPM re-weights the CAMs in score_2 (the 0.5 CE term): "label" (the paper: built
    # with the ground-truth class) or "predicted" (built with the detached top-1 prediction).
    # From scratch the label-built mask leaks the label into score_2 (TRAINING_NOTES.md §4).
    fpm_ce_mask: str = "label"
    modulation: bool = True  # non-linear modulation (Gaussian / Student-t reshaping)
    fusion: bool = True  # fuse M_A + M_B + M_D; False keeps the first map alone
    control: str = "foreground"  # "foreground" (SR), "background" (BAS) or "none"
    topk: int = 4  # classes averaged into the FPM at test time
    student_t_nu: float = 5.0
    fpm_ce_weight: float = 0.5
    control_weight: float = 1.5
    control_margin: float = 0.5
    area_weight: float = 1.2
    # Weight of the abnormal-vs-normal term (issue #14 item 3): BCE of logsumexp(logits) - b
    # against "shows one of the classes", so training images that show none of them (No
    # Finding; label -1, sr_core.data.datasets.NEGATIVE) teach the maps to stay low on normal
    # anatomy, while the per-finding softmax CE sees the positives only. 0: off.
    abnormal_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.cam_activation not in ("relu", "softplus"):
            raise ValueError(f"cam_activation must be 'relu' or 'softplus', got {self.cam_activation!r}")
        if self.fpm_ce_mask not in ("label", "predicted"):
            raise ValueError(f"fpm_ce_mask must be 'label' or 'predicted', got {self.fpm_ce_mask!r}")
        if self.control not in CONTROL_MODES:
            raise ValueError(f"control must be one of {CONTROL_MODES}, got {self.control!r}")
        if self.abnormal_weight < 0:
            raise ValueError(f"abnormal_weight must be >= 0, got {self.abnormal_weight!r}")


class CamHead(nn.Module):
    """conv3x3 -> ReLU -> conv3x3 -> ReLU -> conv1x1 -> softplus or ReLU: the class activation maps F."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int, activation: str = "softplus"):
        super().__init__()
        self.activation = F.softplus if activation == "softplus" else F.relu
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.cls = nn.Conv2d(hidden, num_classes, 1)
        # He initialisation keeps the maps' spread across images at the scale of the input
        # (PyTorch's default shrinks it ~3x a layer, which stalls the first epochs), and
        # every class map starts positive: a map below zero everywhere gets no gradient
        # through the final ReLU and never learns.
        for conv in (self.conv1, self.conv2, self.cls):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.cls.bias, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The backbone's norm hands over a channels-last view; on a small map (8x8 at 256 px)
        # PyTorch's CPU conv takes its im2col path, which copies the whole weight for such an
        # input on every call (2.4 MB a 256-channel conv): one copy of the map is cheaper. On
        # the GPU (channels-last training) the layout stays as it is.
        if x.device.type == "cpu":
            x = x.contiguous()
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.activation(self.cls(x))


class FPMGenerator(nn.Module):
    """Attention seed M_A, modulated maps M_B and M_D, and their fusion into per-class maps."""

    def __init__(self, channels: int, num_classes: int, cfg: SRHeadConfig):
        super().__init__()
        self.cfg = cfg
        self.conv_a = nn.Conv2d(channels, num_classes, 3, padding=1)
        if cfg.fusion:
            self.conv_b = nn.Conv2d(channels, num_classes, 3, padding=1)
            self.conv_d = nn.Conv2d(channels, num_classes, 3, padding=1)

    def forward(self, x_loc: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        """Per-class foreground maps M_all (N, C, h, w) in [0, 1].

        Args:
            x_loc: (N, ch, h, w) normalised features at the seam.
            class_weights: (N, C) averaging weights over the p_label classes (rows sum to 1).
        """
        m_a = torch.sigmoid(self.conv_a(x_loc))
        if not self.cfg.fusion:
            return minmax(m_a, (2, 3))
        if self.cfg.modulation:
            att = minmax(_weighted_mean(m_a.detach(), class_weights), (1, 2, 3))
            g, t = self._reshaping_curves(att)
            m_b = torch.sigmoid(self.conv_b(x_loc * g))
            m_d = torch.sigmoid(self.conv_d(x_loc * t))
        else:
            m_b = torch.sigmoid(self.conv_b(x_loc))
            m_d = torch.sigmoid(self.conv_d(x_loc))
        return minmax(m_a + m_b + m_d, (2, 3))

    def _reshaping_curves(self, att: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian (peaks at mid activations) and Student-t (high where weak) curves of att.

        In training, mu and sigma are taken over the batch (the paper). In eval mode they are
        taken per sample, so a prediction never depends on which other images share its
        batch (at batch size 1 the two agree).
        """
        dims = (0, 1, 2, 3) if self.training else (1, 2, 3)
        mu = att.mean(dim=dims, keepdim=True)
        sigma = att.std(dim=dims, keepdim=True, unbiased=False).clamp_min(1e-3)
        g = torch.exp(-0.5 * ((att - mu) / sigma) ** 2)
        nu = self.cfg.student_t_nu
        t = (1.0 + att**2 / nu) ** (-(nu + 1.0) / 2.0)  # the pdf up to its constant factor
        return minmax(g, (1, 2, 3)), minmax(t, (1, 2, 3))


def _positive_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax CE over the samples that show a class (label >= 0); 0 when there is none."""
    positive = labels >= 0
    total = F.cross_entropy(logits.float(), labels.clamp_min(0), reduction="none")
    return (total * positive).sum() / positive.sum().clamp_min(1)


def _weighted_mean(maps: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) x (N, C) -> (N, 1, h, w)."""
    return torch.einsum("nchw,nc->nhw", maps, class_weights.to(maps.dtype)).unsqueeze(1)


def _frozen(module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """Run `module` with detached parameters: gradients reach the inputs, never the weights."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, params, args)


class SRModel(nn.Module):
    """A backbone with the SR head.

    forward(images, labels=None) returns a dict:
        logits      (N, C) class scores (GAP of the CAMs)
        class_maps  (N, C, h, w) per-class foreground maps in [0, 1]
        fpm         (N, 1, h, w) the foreground map over the p_label classes (training
                    labels if given, else the top-k predicted classes)
        losses      only with labels: the unweighted terms ce, ce_fpm, control (the hinge,
                    or the BAS ratio), area, abnormal, and their weighted sum total

    A label -1 (sr_core.data.datasets.NEGATIVE) marks an image that shows none of the classes:
    it takes part in the abnormal term only (head.abnormal_weight), never in the per-class terms.
    """

    def __init__(self, backbone: Backbone, num_classes: int, head: SRHeadConfig):
        super().__init__()
        self.num_classes = num_classes
        self.head_cfg = head
        self.backbone = backbone
        self.cam = CamHead(backbone.out_channels, head.head_channels, num_classes, head.cam_activation)
        self.fpm_generator = FPMGenerator(backbone.loc_channels, num_classes, head) if head.fpm else None
        # The abnormal term's offset b: softplus CAMs make every logit positive, so
        # logsumexp(logits) alone could never say "normal".
        self.abnormal_bias = nn.Parameter(torch.zeros(())) if head.abnormal_weight > 0 else None
        self.config: dict = {}  # filled by the registry: everything needed to rebuild this model

    def _cam_path(self, feat: torch.Tensor) -> torch.Tensor:
        return self.cam(self.backbone.norm(self.backbone.stage4(feat)))

    def _frozen_cam_path(self, feat: torch.Tensor) -> torch.Tensor:
        bb = self.backbone
        return _frozen(self.cam, _frozen(bb.norm, _frozen(bb.stage4, feat)))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        feat = self.backbone.forward_loc(images)
        cams = self._cam_path(feat)
        logits = cams.mean(dim=(2, 3))
        if labels is not None:
            positive = labels >= 0
            weights = (F.one_hot(labels.clamp_min(0), self.num_classes) * positive[:, None]).to(logits.dtype)
        else:
            k = min(self.head_cfg.topk, self.num_classes)
            top = logits.detach().topk(k, dim=1).indices
            weights = torch.zeros_like(logits).scatter_(1, top, 1.0 / k)

        if self.fpm_generator is None:
            class_maps = minmax(cams.float(), (2, 3))
            fpm = _weighted_mean(class_maps, weights)
            out = {"logits": logits, "class_maps": class_maps, "fpm": fpm}
            if labels is not None:
                ce = _positive_ce(logits, labels)
                zero = ce.new_zeros(())
                out["losses"] = self._with_abnormal(
                    {"ce": ce, "ce_fpm": zero, "control": zero, "area": zero, "total": ce}, logits, labels)
            return out

        x_loc = self.backbone.norm(feat)
        fpm_input = x_loc if self.head_cfg.fpm_feature_grad else x_loc.detach()
        class_maps = self.fpm_generator(fpm_input, weights)
        fpm = _weighted_mean(class_maps, weights)
        out = {"logits": logits, "class_maps": class_maps, "fpm": fpm}
        if labels is not None:
            fpm_ce = fpm
            if self.head_cfg.fpm_ce_mask == "predicted":
                predicted = F.one_hot(logits.detach().argmax(1), self.num_classes).to(logits.dtype)
                fpm_ce = _weighted_mean(self.fpm_generator(fpm_input, predicted), predicted)
            p = labels >= 0
            if bool(p.all()):
                losses = self._losses(logits, cams, x_loc, fpm, fpm_ce, labels)
            elif not bool(p.any()):
                zero = logits.float().sum() * 0.0
                losses = {"ce": zero, "ce_fpm": zero, "control": zero, "area": zero, "total": zero}
            else:  # the per-class terms on the images that show a class
                losses = self._losses(logits[p], cams[p], x_loc[p], fpm[p], fpm_ce[p], labels[p])
            out["losses"] = self._with_abnormal(losses, logits, labels)
        return out

    def _with_abnormal(self, losses: dict, logits: torch.Tensor, labels: torch.Tensor) -> dict:
        """Add the abnormal-vs-normal term (head.abnormal_weight) to the model's losses."""
        if self.abnormal_bias is None:
            return losses | {"abnormal": losses["ce"].new_zeros(())}
        score = torch.logsumexp(logits.float(), dim=1) - self.abnormal_bias.float()
        abnormal = F.binary_cross_entropy_with_logits(score, (labels >= 0).float())
        return losses | {"abnormal": abnormal, "total": losses["total"] + self.head_cfg.abnormal_weight * abnormal}

    @torch.no_grad()
    def finding_maps(
        self, images: torch.Tensor, return_features: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits and one foreground map per finding, each made with that finding as p_label.

        Args:
            images: (N, 3, H, W) normalised input.
            return_features: also return the pooled features the out-of-distribution check
                measures (sr_core.ood): the spatial mean of the normalised last-stage
                features, the tensor the CAM head reads.

        Returns:
            logits (N, C) and maps (N, C, h, w) in [0, 1], where maps[:, c] is the FPM the
            model produces when asked about finding c (p_label = c; sr_core/README.md#method);
            with return_features, also features (N, out_channels), float32.
        """
        feat = self.backbone.forward_loc(images)
        top = self.backbone.norm(self.backbone.stage4(feat))  # what _cam_path feeds the CAM head
        cams = self.cam(top)
        logits = cams.mean(dim=(2, 3))
        extra = (top.float().mean(dim=(2, 3)),) if return_features else ()
        if self.fpm_generator is None:
            return (logits, minmax(cams.float(), (2, 3)), *extra)
        x_loc = self.backbone.norm(feat)
        n, c = logits.shape
        if not (self.head_cfg.fusion and self.head_cfg.modulation):
            # Without modulation the per-class maps do not depend on p_label.
            return (logits, self.fpm_generator(x_loc, torch.full_like(logits, 1.0 / c)), *extra)
        # One pass per finding, batched: sample i, finding j sits at row i * C + j.
        weights = torch.eye(c, dtype=logits.dtype, device=logits.device).repeat(n, 1)
        maps = self.fpm_generator(x_loc.repeat_interleave(c, dim=0), weights)
        idx = torch.arange(c, device=maps.device).repeat(n)
        return (logits, maps[torch.arange(n * c, device=maps.device), idx].view(n, c, *maps.shape[2:]), *extra)

    def _losses(self, logits, cams, x_loc, fpm, fpm_ce, labels) -> dict:
        cfg = self.head_cfg
        ce = F.cross_entropy(logits.float(), labels)
        score_2 = (cams * fpm_ce.to(cams.dtype)).mean(dim=(2, 3))
        ce_fpm = F.cross_entropy(score_2.float(), labels)
        area = fpm.float().mean()
        if cfg.control == "none":
            control = ce.new_zeros(())
        else:
            mask = F.relu(2.0 * fpm - 1.0) if cfg.control == "foreground" else 1.0 - fpm
            masked = self._frozen_cam_path(x_loc.detach() * mask.to(x_loc.dtype)).mean(dim=(2, 3))
            s_mask = masked.float().gather(1, labels[:, None]).squeeze(1)
            s_full = logits.detach().float().gather(1, labels[:, None]).squeeze(1)
            ratio = s_mask / (s_full + 1e-6)
            if cfg.control == "foreground":
                control = F.relu(cfg.control_margin - ratio).mean()
            else:
                control = ratio.mean()
        total = ce + cfg.fpm_ce_weight * ce_fpm + cfg.control_weight * control + cfg.area_weight * area
        return {"ce": ce, "ce_fpm": ce_fpm, "control": control, "area": area, "total": total}

