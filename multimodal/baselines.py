"""The original baseline: a small CNN trained from scratch on the photos alone.

Kept to show what the pretrained backbones and the text buy. It sees the same
split and is scored the same way as the main model (test split, per product,
softmax averaged over the listing's photos). Photos are decoded once at 64 px
and augmented as tensors (mirror, small shifts), so an epoch costs only the
convolutions. Results go to ``<workspace>/baselines/cnn.json``, which
``marketplace evaluate`` adds to its report.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from multimodal.data.catalogue import CleanCatalogue
from multimodal.data.labels import LabelEncoder
from multimodal.data.splits import load_or_make_split
from multimodal.data.transforms import eval_transform, imagenet_normalise

BASELINES_DIR = "baselines"
CNN_FILE = "cnn.json"
IMAGE_SIZE = 64


class SmallCNN(nn.Module):
    """Four conv blocks (16-32-64-128 channels), global average pooling, a linear head."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = [3, 16, 32, 64, 128]
        for i, (cin, cout) in enumerate(itertools.pairwise(channels)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
            layers += [nn.ReLU(inplace=True)]
            if i < len(channels) - 2:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(channels[-1], n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def _augment(x: torch.Tensor, rng: np.random.Generator, shift: int = 4) -> torch.Tensor:
    """Random mirror and a shift of up to ``shift`` pixels (zero padding)."""
    flip = torch.from_numpy(rng.random(len(x)) < 0.5)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (shift, shift, shift, shift))
    dx, dy = rng.integers(0, 2 * shift + 1, size=2)
    return padded[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


def _photos(catalogue: CleanCatalogue, listing_ids, labels: LabelEncoder):
    """Decoded photos [n, 3, 64, 64], their labels, and which listing each belongs to."""
    from PIL import Image

    preprocess = eval_transform(IMAGE_SIZE, imagenet_normalise)
    by_id = catalogue.by_id()
    pixels, ys, owners = [], [], []
    for n, listing_id in enumerate(listing_ids):
        listing = by_id[listing_id]
        for image_id in listing.image_ids:
            with Image.open(catalogue.image_path(image_id)) as img:
                pixels.append(preprocess(img.convert("RGB")))
            ys.append(labels.encode(listing.root))
            owners.append(n)
    if not pixels:
        return torch.zeros(0, 3, IMAGE_SIZE, IMAGE_SIZE), torch.zeros(0, dtype=torch.long), []
    return torch.stack(pixels), torch.tensor(ys), owners


@torch.no_grad()
def _per_product_accuracy(model: SmallCNN, x, owners: list[int], labels: torch.Tensor) -> float:
    """Average each listing's photo probabilities, then score one prediction per listing."""
    model.eval()
    probs = torch.cat([model(x[i : i + 256]).softmax(1) for i in range(0, len(x), 256)])
    owner = torch.tensor(owners)
    n = int(owner.max()) + 1
    summed = torch.zeros(n, probs.shape[1]).index_add_(0, owner, probs)
    truth = torch.zeros(n, dtype=torch.long).index_put_((owner,), labels)
    return float((summed.argmax(1) == truth).float().mean())


def train_cnn_baseline(
    catalogue: CleanCatalogue,
    ws,
    epochs: int = 15,
    patience: int = 3,
    threads: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Train, pick the epoch with the best val accuracy, score it on test and save the result."""
    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    split = load_or_make_split(ws.split_file, catalogue.listings)
    labels = LabelEncoder.fit(listing.root for listing in catalogue.listings)
    train_x, train_y, _ = _photos(catalogue, split.train, labels)
    val_x, val_y, val_owner = _photos(catalogue, split.val, labels)
    test_x, test_y, test_owner = _photos(catalogue, split.test, labels)
    model = SmallCNN(len(labels))
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    best, best_state, stale, history = -1.0, None, 0, []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(len(train_x)))
        for start in tqdm(
            range(0, len(order), 64), desc=f"cnn epoch {epoch}/{epochs}", unit="batch", leave=False
        ):
            idx = order[start : start + 64]
            loss = F.cross_entropy(model(_augment(train_x[idx], rng)), train_y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        val_acc = _per_product_accuracy(model, val_x, val_owner, val_y)
        history.append({"epoch": epoch, "val_accuracy": val_acc})
        if val_acc > best:
            best, stale = val_acc, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    result = {
        "model": "small CNN from scratch (4 conv blocks, 64 px photos)",
        "mode": "image",
        "accuracy": _per_product_accuracy(model, test_x, test_owner, test_y),
        "val_accuracy": best,
        "test_listings_with_photos": len(set(test_owner)),
        "history": history,
        "seconds": time.perf_counter() - started,
    }
    out = Path(ws.root) / BASELINES_DIR
    out.mkdir(parents=True, exist_ok=True)
    (out / CNN_FILE).write_text(json.dumps(result, indent=1))
    return result


def load_baseline_results(ws) -> dict[str, Any]:
    """Saved baseline results of this workspace, by name (empty when none were trained)."""
    path = Path(ws.root) / BASELINES_DIR / CNN_FILE
    if not path.is_file():
        return {}
    return {"small CNN from scratch (image only)": json.loads(path.read_text())}
