"""Generates the Python code of the .proto files under proto/ into the collector package.

    python proto/generate.py [--out DIR]        (``make proto``)

The Jaeger storage protos import OTLP's trace.proto. The .proto sources of OTLP are not
needed: their descriptors are taken from the installed ``opentelemetry-proto`` package and
handed to protoc as a descriptor set, so the generated code refers to that package's
modules (``opentelemetry.proto.trace.v1.trace_pb2``) and matches its version.

The committed output lives in ``collector/modeltrace_collector/proto_gen``; a test
regenerates it into a temporary directory and fails when the two differ.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = ROOT / "collector" / "modeltrace_collector" / "proto_gen"
PACKAGE = "modeltrace_collector.proto_gen"


def sources() -> list[str]:
    return sorted(str(p.relative_to(HERE)) for p in HERE.rglob("*.proto"))


def otlp_descriptor_set(path: pathlib.Path) -> None:
    """The OTLP files trace.proto depends on, as a FileDescriptorSet, from the installed package."""
    from google.protobuf import descriptor_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    out = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(fd) -> None:  # dependencies first, as protoc expects
        if fd.name in seen or fd.name.startswith("google/protobuf/"):
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        out.file.append(proto)

    add(trace_pb2.DESCRIPTOR)
    path.write_bytes(out.SerializeToString())


def generate(out_dir: pathlib.Path) -> list[pathlib.Path]:
    import grpc_tools
    from grpc_tools import protoc

    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        descriptors = pathlib.Path(tmp) / "otlp.pb"
        otlp_descriptor_set(descriptors)
        raw = pathlib.Path(tmp) / "out"
        raw.mkdir()
        args = [
            "protoc",
            f"-I{HERE}",
            f"-I{well_known}",
            f"--descriptor_set_in={descriptors}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            f"--grpc_python_out={raw}",
            *sources(),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        written = []
        for src in sorted(raw.rglob("*.py*")):
            rel = src.relative_to(raw)
            text = src.read_text("utf-8")
            # generated modules import each other by proto path; inside the package they are
            # imported through it
            text = re.sub(r"^from jaeger\.", f"from {PACKAGE}.jaeger.", text, flags=re.M)
            text = re.sub(r"^import jaeger\.", f"import {PACKAGE}.jaeger.", text, flags=re.M)
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, "utf-8")
            written.append(dest)
        # every directory of the output is a package
        for d in {out_dir, *(p.parent for p in written)}:
            while True:
                init = d / "__init__.py"
                if not init.exists():
                    init.write_text("", "utf-8")
                    written.append(init)
                if d == out_dir:
                    break
                d = d.parent
        return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for path in generate(args.out):
        print(path.relative_to(args.out.parent) if args.out == DEFAULT_OUT else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
