from __future__ import annotations

import pytest
import torch

from recommender import devices
from recommender.devices import resolve_precision


def test_auto_precision_is_bfloat16_only_where_the_device_has_it(monkeypatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "native_bfloat16", lambda device: True)
    assert resolve_precision("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(devices, "native_bfloat16", lambda device: False)
    assert resolve_precision("auto", cpu) == torch.float32
    assert resolve_precision("float32", cpu) == torch.float32


def test_forced_bfloat16_without_native_support_warns(monkeypatch, caplog) -> None:
    monkeypatch.setattr(devices, "native_bfloat16", lambda device: False)

    assert resolve_precision("bfloat16", torch.device("cpu")) == torch.bfloat16
    assert "emulated" in caplog.text


def test_unknown_precision_names_the_choices() -> None:
    with pytest.raises(ValueError, match="auto, float32, bfloat16, int8"):
        resolve_precision("fp16", torch.device("cpu"))


def test_int8_is_an_openvino_graph_on_the_cpu_only() -> None:
    assert resolve_precision("int8", torch.device("cpu")) == torch.int8
    with pytest.raises(ValueError, match="on the CPU, not on cuda"):
        resolve_precision("int8", torch.device("cuda"))


def test_a_cpu_whose_bf16_support_cannot_be_read_counts_as_not_native(monkeypatch) -> None:
    monkeypatch.setattr(torch.ops, "mkldnn", object())  # a PyTorch without the private probe

    assert devices.native_bfloat16(torch.device("cpu")) is False
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
