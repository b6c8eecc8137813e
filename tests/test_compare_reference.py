"""bench/compare_reference.py's handling of a reference checkout, on fake checkouts written here
(the comparisons themselves need the user's real checkout; docs/benchmarks.md has their figures)."""

import os
import sys

import pytest
import torch
from conftest import _load_script

from wsss.errors import ConfigError


@pytest.fixture(scope="module")
def compare():
    return _load_script("bench", "compare_reference")


def test_a_checkout_lacking_a_file_is_refused_naming_the_folder_and_the_file(compare, tmp_path):
    (tmp_path / "misc").mkdir()
    (tmp_path / "misc" / "indexing.py").write_text("")
    with pytest.raises(ConfigError, match=rf"{tmp_path}: not a checkout of IRN .*misc/imutils.py is missing"):
        compare.compare_irn(tmp_path, {})
    with pytest.raises(ConfigError, match=rf"{tmp_path / 'absent'}: no such folder"):
        compare.compare_deeplab(tmp_path / "absent", {})
    with pytest.raises(
        ConfigError, match=rf"{tmp_path}: not a checkout of CLIP-ES .*generate_cams_voc12.py is missing"
    ):
        compare.compare_clip_es(tmp_path, {})


def test_reference_modules_are_importable_inside_the_context_and_gone_after_it(compare, tmp_path):
    (tmp_path / "fake_ref_pkg").mkdir()
    (tmp_path / "fake_ref_pkg" / "step.py").write_text(
        "import os\nimport fake_unused_mod.meter\nfrom fake_unused_mod.meter import Meter\nCWD = os.getcwd()\n"
    )
    path, cwd, notes = list(sys.path), os.getcwd(), []
    with compare.reference_modules(tmp_path, ["fake_ref_pkg"], notes, ["fake_unused_mod", "fake_unused_mod.meter"]):
        import fake_ref_pkg.step as step

        assert step.CWD == str(tmp_path.resolve())  # relative paths of the reference resolve in its checkout
        assert step.Meter is not None  # a stub: the module is not installed
    assert "fake_ref_pkg" not in sys.modules and "fake_ref_pkg.step" not in sys.modules
    assert "fake_unused_mod" not in sys.modules and "fake_unused_mod.meter" not in sys.modules
    assert sys.path == path and os.getcwd() == cwd
    assert notes == [
        "not installed, replaced by empty modules (the functions compared do not use them): "
        "['fake_unused_mod', 'fake_unused_mod.meter']"
    ]


def test_a_module_name_already_imported_from_elsewhere_is_refused(compare, tmp_path):
    with pytest.raises(ConfigError, match="a module 'torch' is already imported from elsewhere"):
        with compare.reference_modules(tmp_path, ["torch"], []):
            pass


def test_cuda_calls_are_no_ops_only_inside_the_context(compare):
    tensor, module = torch.zeros(2), torch.nn.Linear(1, 1)
    originals = (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.device, torch.cuda.device_count)
    with compare.cuda_as_cpu([]):
        assert tensor.cuda(non_blocking=True) is tensor and module.cuda() is module
        with torch.cuda.device(0):
            assert torch.cuda.device_count() == 2
    assert (torch.Tensor.cuda, torch.nn.Module.cuda, torch.cuda.device, torch.cuda.device_count) == originals
