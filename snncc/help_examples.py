"""The examples that end every command's `--help`: two or three command lines a newcomer can paste."""

from __future__ import annotations

import click

EXAMPLES: dict[str, list[str]] = {
    "compile": [
        "snncc compile models/digits_cnn.onnx -o digits.snnir            # rate coding, T=32, bundled calibration",
        "snncc compile m.onnx --calib c.npz --coding phase -K 6 -o m.snnir --emit-text m.txt",
        "snncc compile m.onnx --plugin my_passes.py --insert-after fold-bn:my-pass{factor=2} -o m.snnir",
    ],
    "eval": [
        "snncc eval digits.snnir                       # the bundled model's test split",
        "snncc eval m.snnir --data test.npz --timesteps 4,8,16,32 --json",
        "snncc eval m.snnir --data test.npz --plot m.png   # accuracy per T, spikes per layer",
    ],
    "check": [
        "snncc check models/digits_cnn.onnx             # which codings work, and what stops the others",
        "snncc check m.onnx --coding amos --profile loihi2 --json",
    ],
    "inspect": [
        "snncc inspect digits.snnir",
        "snncc inspect digits.snnir | grep if_neuron",
    ],
    "passes": [
        "snncc passes",
        "snncc --plugin my_passes.py passes            # with your own passes",
    ],
    "diff": [
        "snncc diff reviewed.txt new.snnir --exit-code",
        "snncc diff old.snnir new.snnir --tolerance 1e-6 --ignore-header producer",
    ],
    "export": [
        "snncc export m.snnir --format nir -o m.nir",
        "snncc export m.snnir --format text --full -o m.full.txt",
    ],
    "map": [
        "snncc map digits.snnir --profile loihi2 -o digits.map.json",
        "snncc map --check digits.snnir digits.map.json",
    ],
}


def epilog(lines: list[str]) -> str:
    """`Examples:` and the lines, kept verbatim by click (the \\b marker stops its rewrapping)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines) + "\n"


def attach_examples(group: click.Group) -> None:
    """Give every command of `group` that has no epilog yet its examples from EXAMPLES."""
    for name, command in group.commands.items():
        if not command.epilog and name in EXAMPLES:
            command.epilog = epilog(EXAMPLES[name])
