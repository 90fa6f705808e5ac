"""Dice and IoU: the soft Dice used in the training loss, and the exact scores used to judge a model.

Dice = 2 |A ∩ B| / (|A| + |B|) and IoU = |A ∩ B| / |A ∪ B|; both lie in [0, 1] and are 1 when the
prediction and the truth are both empty (nothing to find, nothing found: a perfect answer).
"""
import torch
from torch import Tensor


def dice_coeff(input: Tensor, target: Tensor, reduce_batch_first: bool = False, epsilon: float = 1e-6) -> Tensor:
    """Dice of masks with values in [0, 1], shape (H, W) or (N, H, W).

    Per image then averaged, or with reduce_batch_first over the whole batch as one big image.
    """
    if input.size() != target.size():
        raise ValueError(f"Dice: input shape {tuple(input.shape)} differs from target shape {tuple(target.shape)}")
    if input.dim() == 2 and reduce_batch_first:
        raise ValueError(f"Dice: asked to reduce batch but got a tensor without batch dimension {tuple(input.shape)}")
    sum_dim = (-1, -2) if input.dim() == 2 or not reduce_batch_first else (-1, -2, -3)
    inter = 2 * (input * target).sum(dim=sum_dim)
    sets_sum = input.sum(dim=sum_dim) + target.sum(dim=sum_dim)
    # Both empty: make the ratio 0/0 -> (0 + eps) / (0 + eps) = 1 instead of a division by zero.
    sets_sum = torch.where(sets_sum == 0, inter, sets_sum)
    dice = (inter + epsilon) / (sets_sum + epsilon)
    return dice.mean()


def multiclass_dice_coeff(
    input: Tensor, target: Tensor, reduce_batch_first: bool = False, epsilon: float = 1e-6
) -> Tensor:
    """Mean over the classes (dim 1) of the Dice of (N, C, H, W) probabilities / one-hot masks."""
    if input.size() != target.size():
        raise ValueError(f"Dice: input shape {tuple(input.shape)} differs from target shape {tuple(target.shape)}")
    per_class = [dice_coeff(input[:, c], target[:, c], reduce_batch_first, epsilon) for c in range(input.shape[1])]
    return torch.stack(per_class).mean()


def dice_loss(input: Tensor, target: Tensor, multiclass: bool = False) -> Tensor:
    """1 - Dice, between 0 and 1: a loss that rewards overlap, not pixel counts (helps small objects)."""
    fn = multiclass_dice_coeff if multiclass else dice_coeff
    return 1 - fn(input, target, reduce_batch_first=True)


def foreground_classes(n_classes: int) -> range:
    """Class 0 is background; n_classes=1 (one sigmoid output) still means classes 0 and 1."""
    return range(1, max(n_classes, 2))


def dice_iou_per_image(pred: Tensor, true: Tensor, n_classes: int) -> tuple[Tensor, Tensor]:
    """Exact Dice and IoU of class-index masks (N, H, W), each averaged over the foreground classes.

    Returns two float tensors of shape (N,), one score per image, always within [0, 1].
    """
    if pred.shape != true.shape:
        raise ValueError(f"Dice: prediction shape {tuple(pred.shape)} differs from truth shape {tuple(true.shape)}")
    dices, ious = [], []
    for c in foreground_classes(n_classes):
        p = pred == c
        t = true == c
        inter = (p & t).sum(dim=(-1, -2)).double()
        total = p.sum(dim=(-1, -2)).double() + t.sum(dim=(-1, -2)).double()
        union = total - inter
        empty = total == 0  # class absent from both: a correct answer
        dices.append(torch.where(empty, 1.0, 2 * inter / total.clamp(min=1)))
        ious.append(torch.where(empty, 1.0, inter / union.clamp(min=1)))
    return torch.stack(dices).mean(dim=0), torch.stack(ious).mean(dim=0)


def class_probabilities(logits: Tensor) -> Tensor:
    """(N, C, H, W) scores -> probabilities: sigmoid of a one-output model, softmax over the classes otherwise.
    Probabilities, unlike scores, can be averaged (flip test-time augmentation) and resized without changing
    what they mean."""
    logits = logits.float()
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


def probabilities_to_classes(probabilities: Tensor, mask_threshold: float = 0.5) -> Tensor:
    """The predicted class of each pixel, (N, C, H, W) probabilities -> (N, H, W) class indices.

    One output channel: class 1 where the probability exceeds the threshold; several: the most probable class.
    """
    if probabilities.shape[1] == 1:
        return (probabilities[:, 0] > mask_threshold).long()
    return probabilities.argmax(dim=1)
