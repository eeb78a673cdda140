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


def test_source_names_parse_and_format():
    from toolkit.data.names import SourceName

    cases = {"raw": SourceName("raw"), "nerv_M": SourceName("nerv", "M"),
             "dnerv_M_ddp": SourceName("dnerv", "M", "ddp"),
             "h264_at_nerv_M": SourceName("h264", at="nerv_M"),
             "hevc_L_at_dnerv_L": SourceName("hevc", "L", at="dnerv_L")}
    for text, name in cases.items():
        assert SourceName.parse(text) == name and name.format() == text
    assert [SourceName.parse(t).curve for t in cases] == [
        "raw", "nerv", "dnerv_ddp", "h264 at INR bpp", "hevc at INR bpp"]


def test_gathered_rows_and_sizes_come_from_the_source_name():
    """Records without the manifest's codec and size are placed by their source name."""
    from toolkit.tasks.action.gather import _row_name, _size_name

    assert (_row_name({"source": "dnerv_M_ddp"}), _size_name({"source": "dnerv_M_ddp"})) == ("dnerv", "M")
    assert (_row_name({"source": "raw"}), _size_name({"source": "raw"})) == ("raw", "-")
