"""Compression report: the table and the rate-distortion plot from recorded results."""

from __future__ import annotations

import json

from toolkit.reports import curve_label, load_results, markdown_table, plot_rate_distortion


def test_report_from_jsonl(tmp_path):
    rows = [dict(source=f"{codec}_{size}", codec=codec, size=size, bpp=bpp, psnr=psnr, ms_ssim=0.9,
                 dataset="d") for codec, size, bpp, psnr in
            [("nerv", "S", 0.05, 25.0), ("nerv", "M", 0.06, 26.0), ("h264", "M", 0.061, 27.0),
             ("nerv", "M", 0.07, 24.0), ("h264", "M", 0.06, 26.5)]]
    rows[3]["source"] = "nerv_M_ddp"
    rows[4]["source"] = "h264_at_nerv_M"
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_results([path])
    table = markdown_table(loaded)
    assert table.index("| nerv_S |") < table.index("| nerv_M |") < table.index("| h264_M |")
    assert [curve_label(r) for r in loaded] == ["nerv", "nerv", "h264", "nerv_ddp", "h264 at INR bpp"]
    png = plot_rate_distortion(loaded, tmp_path / "rd.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
