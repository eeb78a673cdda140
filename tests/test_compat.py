"""The upstream fixes, each checked in a fresh interpreter (the import state matters)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, extra_path: str | None = None) -> str:
    env_path = [str(REPO)] + ([extra_path] if extra_path else [])
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(env_path))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


BUILD_TSM = """
    from mmengine.registry import DefaultScope
    from mmaction.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(dict(
            type='Recognizer2D',
            backbone=dict(type='ResNetTSM', depth=18, pretrained=None, pretrained2d=False, num_segments=2),
            cls_head=dict(type='TSMHead', num_classes=3, in_channels=512, num_segments=2),
            data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCHW')))
    print(type(model).__name__, type(model.backbone).__name__)
"""


def test_mmaction_import_fails_without_fix():
    """The defect is real here (else the fix below proves nothing)."""
    result = subprocess.run([sys.executable, "-c", "import mmaction.models"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0 and "drn" in result.stderr


def test_tsm_builds_through_registry_in_fresh_process():
    out = run_python("import toolkit\nfrom toolkit.compat import register_mmaction\n"
                     "register_mmaction()\n" + textwrap.dedent(BUILD_TSM))
    assert "Recognizer2D ResNetTSM" in out


def test_drn_stub_raises_clear_error():
    out = run_python("""
        import toolkit, mmaction.models
        from mmaction.models.localizers.drn.drn import DRN
        try:
            DRN()
        except ImportError as exc:
            print('clear:', '#2714' in str(exc))
    """)
    assert "clear: True" in out


def _fake_transformers(tmp_path: Path, version: str) -> str:
    dist = tmp_path / f"transformers-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: transformers\nVersion: {version}\n")
    return str(tmp_path)


def test_transformers5_switches_multimodal_off(tmp_path):
    out = run_python("""
        import toolkit, mmaction.models
        import mmaction.utils.dependency as dep
        print('multimodal', dep.WITH_MULTIMODAL)
    """, extra_path=_fake_transformers(tmp_path, "5.1.0"))
    assert "multimodal False" in out


def test_transformers4_left_alone(tmp_path):
    out = run_python("""
        import sys, toolkit
        from toolkit.compat import _EarlyFinder
        print('patched', any(isinstance(f, _EarlyFinder) for f in sys.meta_path))
    """, extra_path=_fake_transformers(tmp_path, "4.40.0"))
    assert "patched False" in out


WORKER_SCRIPT = """
import torch
import toolkit  # a tool's first import; spawned workers re-import this script
from torch.utils.data import DataLoader, Dataset


class ImportProbe(Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        import mmaction.models  # noqa: F401  (fails without the drn fix)
        from mmaction.models.recognizers import Recognizer2D
        return Recognizer2D.__name__


if __name__ == "__main__":
    for method in ("fork", "spawn"):
        loader = DataLoader(ImportProbe(), num_workers=1, multiprocessing_context=method)
        print(method, list(loader)[0][0])
"""


def test_fix_holds_in_dataloader_workers(tmp_path):
    """Workers started by fork and by spawn can import mmaction's models."""
    import os

    script = tmp_path / "tool.py"
    script.write_text(WORKER_SCRIPT)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fork Recognizer2D" in result.stdout and "spawn Recognizer2D" in result.stdout


def test_checkpoint_fix_allows_mmengine_checkpoints(tmp_path):
    path = tmp_path / "ckpt.pth"
    code = f"""
        import numpy as np, torch, toolkit
        from mmengine.logging import MessageHub
        hub = MessageHub.get_instance('t')
        hub.update_scalar('train/loss', np.float64(0.5))
        hub.update_info('iter', np.int64(3))
        torch.save({{'message_hub': hub.state_dict(), 'arr': np.zeros(3)}}, {str(path)!r})
        try:
            torch.load({str(path)!r})
            print('before: loaded')
        except Exception:
            print('before: refused')
        from toolkit.compat import apply_checkpoint_fix
        apply_checkpoint_fix()
        from mmengine.runner.checkpoint import CheckpointLoader
        ck = CheckpointLoader.load_checkpoint({str(path)!r})
        print('after:', type(ck['message_hub']['log_scalars']['train/loss']).__name__)
        try:
            torch.load({str(path)!r})
            print('plain torch.load: loaded')
        except Exception:
            print('plain torch.load: refused')
    """
    out = run_python(code)
    assert "before: refused" in out and "after: HistoryBuffer" in out
    assert "plain torch.load: refused" in out  # the wider allowlist stays inside mmengine's loader


def test_missing_mmaction_gives_the_install_command():
    """With mmaction2 hidden from the import system, the error names the exact command."""
    out = run_python("""
        import importlib.util, sys
        sys.modules.pop('mmaction', None)
        importlib.util.find_spec = (lambda real: lambda name, *a: None if name == 'mmaction'
                                    else real(name, *a))(importlib.util.find_spec)
        from toolkit.compat import register_mmaction
        try:
            register_mmaction()
        except ImportError as exc:
            print('message:', exc)
    """)
    assert "pip install --no-deps mmaction2==1.2.0" in out
