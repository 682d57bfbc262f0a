"""The bindings read the installed llama.cpp library's structures right (whichever library set-up installed: built
from source, or prebuilt), and a shifted layout is named field by field."""

from __future__ import annotations

import llama_cpp
import pytest

from srag_lsp import doctor
from srag_lsp.models import llama_abi


def test_the_flags_a_build_uses_are_read_from_its_system_info() -> None:
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | FMA = 1 |"
    assert llama_abi.built_flags(info) == {"AVX", "AVX2", "FMA"}


def test_the_installed_library_reads_its_context_defaults_right() -> None:
    assert llama_abi.layout_problem() is None


def test_a_shifted_layout_is_named_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    real = llama_cpp.llama_context_default_params

    def shifted() -> llama_cpp.llama_context_params:
        # Fault injection: what bindings one field off read (llama.cpp's true values moved to the next field).
        params = real()
        params.op_offload, params.swa_full = False, False
        return params

    monkeypatch.setattr(llama_cpp, "llama_context_default_params", shifted)
    problem = llama_abi.layout_problem()
    assert problem is not None
    assert "op_offload=False (expected True)" in problem and "swa_full=False" in problem
    finding = doctor.check_llama()
    assert finding.status == "fail" and "SRAG_LLAMA=source" in finding.fix


def test_the_check_says_which_library_it_is() -> None:
    finding = doctor.check_llama()
    origin = "prebuilt library from xllamacpp" if llama_abi.prebuilt_library() else "built from source"
    assert origin in finding.detail
