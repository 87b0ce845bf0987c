"""A trained detector's 8-bit graph: where it lives beside the checkpoint, and finding it.

`python -m recommender.quantize` makes it: the detector's BN-folded backbone converted to
OpenVINO and quantised to 8 bits, calibrated on the network inputs of real photos. Its
files sit beside the checkpoint (`detector.pt` -> `detector.int8.xml`, `.bin`, `.json`).
The JSON names the checkpoint file (sha256) and the network (`runtimes.module_key`) it
was made from, so a retrained checkpoint at the same path never runs a stale graph.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

GRAPH_FORMAT = "shopalook.int8_graph/1"
SUFFIX = ".int8"


class Int8GraphError(ValueError):
    """Precision int8 asked of a detector that cannot run it: no 8-bit graph, one made from
    another network, or a runtime other than OpenVINO."""


@dataclass(frozen=True)
class QuantizedGraph:
    """An 8-bit graph on disk and what it was made from."""

    xml: Path
    checkpoint_sha256: str
    module_key: str  # `runtimes.module_key` of the network quantised
    info: dict[str, Any]  # versions, calibration, measured feature error


def graph_paths(checkpoint: Path | str) -> tuple[Path, Path, Path]:
    """The graph's .xml, .bin and .json files for `checkpoint`."""
    checkpoint = Path(checkpoint)
    name = f"{checkpoint.stem}{SUFFIX}"
    xml, weights, meta = (checkpoint.with_name(name + ext) for ext in (".xml", ".bin", ".json"))
    return xml, weights, meta


def find_quantized_graph(checkpoint: Path | str, checkpoint_sha256: str) -> QuantizedGraph | None:
    """The 8-bit graph made from this checkpoint file, or None: none made, one made from
    another file at this path (logged), or one whose files are damaged (a warning)."""
    xml, weights, meta = graph_paths(checkpoint)
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text())
        if info.get("format") != GRAPH_FORMAT:
            raise ValueError(f"format {info.get('format')!r}, not {GRAPH_FORMAT!r}")
        made_from, key = str(info["checkpoint_sha256"]), str(info["module_key"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        logger.warning("ignoring the 8-bit graph %s: cannot read it (%s)", meta, error)
        return None
    if made_from != checkpoint_sha256:
        logger.info(
            "ignoring the 8-bit graph %s: made from checkpoint %s, not this one (%s); "
            "run python -m recommender.quantize again",
            meta,
            made_from[:12],
            checkpoint_sha256[:12],
        )
        return None
    if not (xml.is_file() and weights.is_file()):
        logger.warning("ignoring the 8-bit graph %s: %s or %s is missing", meta, xml, weights)
        return None
    return QuantizedGraph(xml=xml, checkpoint_sha256=made_from, module_key=key, info=info)


def save_quantized_graph(
    model: Any,
    checkpoint: Path | str,
    *,
    checkpoint_sha256: str,
    module_key: str,
    info: dict[str, Any],
) -> QuantizedGraph:
    """Write the OpenVINO `model` as `checkpoint`'s 8-bit graph. Each file is written under
    a name of its own and renamed, the JSON last: a reader sees the old graph or the new."""
    import openvino as ov

    xml, weights, meta = graph_paths(checkpoint)
    record = {
        "format": GRAPH_FORMAT,
        "checkpoint_sha256": checkpoint_sha256,
        "module_key": module_key,
        **info,
    }
    partial = xml.with_name(f"{xml.stem}.{os.getpid()}.partial.xml")
    partial_meta = meta.with_name(f"{meta.stem}.{os.getpid()}.partial.json")
    try:
        meta.unlink(missing_ok=True)  # the old graph is gone before its files are replaced
        ov.save_model(model, partial, compress_to_fp16=False)
        partial_meta.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(partial.with_suffix(".bin"), weights)
        os.replace(partial, xml)
        os.replace(partial_meta, meta)
    finally:
        for leftover in (partial, partial.with_suffix(".bin"), partial_meta):
            with contextlib.suppress(OSError):
                leftover.unlink()
    logger.info("saved the 8-bit graph %s", xml)
    return QuantizedGraph(
        xml=xml, checkpoint_sha256=checkpoint_sha256, module_key=module_key, info=record
    )
