"""The inference face of a saved model: texts, photos and listings → joint vectors.

Everything downstream (indexing, the API) embeds through ``Embedder`` and never
touches the encoders, so a model is swapped by pointing at another bundle.
All vectors are float32 and L2-normalised; photos are preprocessed with the
same eval transform the cached training features were computed with. The
encoders run in the precision ``multimodal.precision`` picks (bf16 where the
CPU has it), with the image encoder in channels-last layout, which oneDNN's
convolutions run ~1.7x faster than the default layout even in fp32. On a GPU
(``device``) the encoders and head run there under autocast in its half type;
the word channel and photo neighbours stay on the CPU, and vectors come back as
CPU float32 arrays either way.

On the CPU, by default (``engine="auto"``), the encoders run instead on the ONNX
runtime (``multimodal.runtime``), exported once from the bundle and cached
beside it; torch stays the fallback (``engine="torch"``), runs the small heads,
and is what runs on a GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from multimodal.bundle import Manifest, load_model
from multimodal.data.transforms import eval_transform
from multimodal.device import resolve_device, to_device
from multimodal.fusion import MultimodalModel
from multimodal.precision import Precision, autocast, resolve_precision
from multimodal.runtime.cache import open_encoders
from multimodal.runtime.engine import Engine
from multimodal.runtime.session import OnnxEncoders, RuntimeImageEncoder


def _inference(method: Callable) -> Callable:
    """Run an embedding method without autograd, in the embedder's precision."""

    @functools.wraps(method)
    def run(self: Embedder, *args, **kwargs):
        with torch.inference_mode(), autocast(self.precision, self.device.type):
            return method(self, *args, **kwargs)

    return run


@dataclass(frozen=True)
class ListingContent:
    """What a listing shows a buyer: its text (title + description) and its photos."""

    text: str
    images: list[Image.Image] = field(default_factory=list)


class Embedder:
    def __init__(
        self,
        model: MultimodalModel,
        manifest: Manifest,
        precision: Precision = "auto",
        device: torch.device | None = None,
        runtime: OnnxEncoders | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        self.model = model.eval()
        for part in (model.text, model.image, model.head):
            part.to(self.device)
        self.runtime = runtime
        self.model.image.to(memory_format=torch.channels_last)
        self.manifest = manifest
        self.precision = resolve_precision(precision, self.device.type)
        if self.precision == "bf16" and self.device.type == "cpu" and runtime is None:
            # A short query is bound by reading the text encoder's weights: autocast
            # would re-cast them on every call, so they are stored in bf16 once.
            self.model.text.to(torch.bfloat16)
        self._preprocess = eval_transform(manifest.config.image.image_size, model.image.normalise)
        self._text_batch = manifest.config.text.batch_size
        self._image_batch = manifest.config.image.batch_size

    @classmethod
    def load(
        cls,
        model_dir: Path,
        precision: Precision = "auto",
        device: str = "cpu",
        engine: Engine = "auto",
    ) -> Embedder:
        """Load a bundle and run one tiny forward pass, so the first real call is not slow.
        ``device`` is ``multimodal.device``'s: auto, cpu or cuda; ``engine`` what runs the
        encoders on the CPU (a GPU always runs them with torch)."""
        model, manifest, _ = load_model(Path(model_dir))
        chosen = resolve_device(device)
        runtime = None
        if chosen.type == "cpu":
            size = manifest.config.image.image_size
            runtime = open_encoders(Path(model_dir), model, manifest.fingerprint, size, engine)
        embedder = cls(model, manifest, precision, chosen, runtime)
        embedder.embed_query("warm up", Image.new("RGB", (32, 32)))
        return embedder

    @property
    def fingerprint(self) -> str:
        return self.manifest.fingerprint

    @property
    def dim(self) -> int:
        return self.manifest.config.fusion.embed_dim

    @property
    def backbones(self) -> dict[str, str]:
        return dict(self.manifest.backbones)

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def engine(self) -> str:
        """What runs the encoders: ``onnx`` (the runtime) or ``torch``."""
        return "torch" if self.runtime is None else "onnx"

    @property
    def image_encoder(self):
        """The image encoder instance descriptors are made with (its trunk on the runtime)."""
        if self.runtime is None:
            return self.model.image
        return RuntimeImageEncoder(self.model.image, self.runtime)

    # -- torch-level helpers -------------------------------------------------------

    def _text_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), self._text_batch):
            enc = self.model.text.tokenize(texts[start : start + self._text_batch])
            if self.runtime is not None:
                ids, mask = enc["input_ids"].numpy(), enc["attention_mask"].numpy()
                out.append(torch.from_numpy(self.runtime.text_vectors(ids, mask)))
                continue
            enc = {key: to_device(value, self.device) for key, value in enc.items()}
            hidden = self.model.text.trunk(**enc)
            out.append(self.model.text_vectors(hidden, enc["attention_mask"]))
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    def _photo_vectors(self, images: Sequence[Image.Image]) -> torch.Tensor:
        out = []
        for start in range(0, len(images), self._image_batch):
            batch = images[start : start + self._image_batch]
            pixels = torch.stack([self._preprocess(img.convert("RGB")) for img in batch])
            if self.runtime is not None:
                out.append(torch.from_numpy(self.runtime.photo_vectors(pixels.numpy())))
                continue
            pixels = to_device(pixels, self.device).contiguous(memory_format=torch.channels_last)
            out.append(self.model.photo_vectors(self.model.image.trunk(pixels)))
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    def _listing_vectors(self, items: Sequence[ListingContent]) -> torch.Tensor:
        """Fused vectors: text vector + normalised mean of the photo vectors."""
        texts = self._text_vectors([item.text for item in items])
        photos = self._photo_vectors([img for item in items for img in item.images])
        fused, start = [], 0
        for text, item in zip(texts, items, strict=True):
            own = photos[start : start + len(item.images)]
            start += len(item.images)
            if len(own) == 0:
                fused.append(text)
                continue
            mask = torch.ones(1, len(own), dtype=torch.bool, device=self.device)
            pooled = self.model.head.pool_photos(own.unsqueeze(0), mask)[0]
            fused.append(self.model.head.fuse(text, pooled))
        return torch.stack(fused) if fused else torch.zeros(0, self.dim)

    @staticmethod
    def _numpy(vectors: torch.Tensor) -> np.ndarray:
        """Float32, re-normalised in fp32 (a bf16 norm is only good to ~1e-3)."""
        return np.ascontiguousarray(F.normalize(vectors.float(), dim=-1).cpu().numpy())

    # -- the public contract ---------------------------------------------------------

    @_inference
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``[n, dim]`` text-only joint vectors (queries, or listings without photos)."""
        return self._numpy(self._text_vectors(list(texts)))

    @_inference
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``[n, dim]`` photo-only joint vectors, one per photo."""
        return self._numpy(self._photo_vectors(list(images)))

    @_inference
    def embed_listings(self, items: Sequence[ListingContent]) -> np.ndarray:
        """``[n, dim]`` fused vectors: each listing's text with all of its photos."""
        return self._numpy(self._listing_vectors(list(items)))

    @_inference
    def embed_query(self, text: str | None = None, image: Image.Image | None = None) -> np.ndarray:
        """``[dim]`` vector for a search: text, photo, or both fused like a listing."""
        if not (text and text.strip()) and image is None:
            raise ValueError("a query needs text or a photo")
        if image is None:
            return self._numpy(self._text_vectors([text]))[0]
        if not (text and text.strip()):
            return self._numpy(self._photo_vectors([image]))[0]
        return self._numpy(self._listing_vectors([ListingContent(text, [image])]))[0]

    @_inference
    def predict_category(
        self, text: str | None, images: Sequence[Image.Image] = ()
    ) -> dict[str, float]:
        """Root-category probabilities (summing to 1) from text, photos, or both.

        Photos alone are classified with the bundle's ``PhotoNeighbours`` vote blended
        in, as ``multimodal.blending.predict_logits`` does for evaluation."""
        if not (text and text.strip()) and not images:
            raise ValueError("predicting a category needs text or a photo")
        head = self.model.head
        pooled = None
        if images:
            photos = self._photo_vectors(list(images))
            mask = torch.ones(1, len(photos), dtype=torch.bool, device=self.device)
            pooled = head.pool_photos(photos.unsqueeze(0), mask)
        if not (text and text.strip()):
            logits = head.classify(pooled).cpu()
            if self.model.neighbours is not None:  # the nearest training photos vote
                logits = self.model.neighbours.blend(logits, pooled.cpu())
        else:
            text_vec = self._text_vectors([text])
            fused = head.fuse(text_vec, pooled)
            has_image = torch.tensor([pooled is not None], device=self.device)
            photo_vec = pooled if pooled is not None else torch.zeros_like(text_vec)
            logits = head.classify_listing(fused, text_vec, photo_vec, has_image).float().cpu()
            if self.model.word is not None:
                logits = self.model.word.blend(logits, self.model.word.log_probs([text]))
        probs = torch.softmax(logits.float(), dim=-1)[0]
        return {label: float(p) for label, p in zip(self.labels, probs.tolist(), strict=True)}
