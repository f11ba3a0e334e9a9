"""Regenerate `snnir_pb2.py` from `snnir.proto` (needs `pip install grpcio-tools`); run `python -m snncc.ir.gen_proto`."""

from __future__ import annotations

import pathlib
import sys


def main() -> int:
    from grpc_tools import protoc  # imported here: only this maintenance script needs it

    here = pathlib.Path(__file__).resolve().parent
    return protoc.main(["protoc", f"-I{here}", f"--python_out={here}", str(here / "snnir.proto")])


if __name__ == "__main__":
    sys.exit(main())
