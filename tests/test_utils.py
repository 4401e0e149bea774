import hashlib

from srlib import utils


def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 40000)  # 10 MB: more than one 4 MB chunk
    assert utils.file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert utils.file_digest(path, "md5") == hashlib.md5(path.read_bytes()).hexdigest()


def test_markdown_table_columns_in_order_of_first_appearance():
    table = utils.markdown_table([dict(a=1, b="x"), dict(a=2, c=3.5)], fmt=lambda v: f"<{v}>")
    assert table.splitlines() == ["| a | b | c |", "|---|---|---|", "| <1> | <x> |  |", "| <2> |  | <3.5> |"]
    assert utils.markdown_table([]) == "(none)"


def test_course_weights_dir_holds_the_course_checkpoints():
    names = {p.stem for p in utils.course_weights_dir().glob("*.safetensors")}
    assert {"edsr_x4_course", "rrdb_psnr_x4_course"} <= names


def test_arg_values_passes_options_on_by_name():
    import argparse

    args = argparse.Namespace(scale=4, tile=None, csv="out.csv")
    assert utils.arg_values(args, "scale", "tile") == {"scale": 4, "tile": None}


def test_machine_info_and_its_one_line_summary():
    import torch

    info = utils.machine_info()
    assert info["threads"] == torch.get_num_threads() and info["torch"] == torch.__version__
    assert {"cpu", "isa", "cores", "memory_gb", "load", "python", "cuda", "tf32"} <= set(info)
    assert utils.machine_info(threads=7)["threads"] == 7  # the runs described, not this process
    line = utils.machine_summary(threads=7)
    assert line.startswith(info["cpu"]) and "7 torch threads" in line and f"torch {torch.__version__}" in line


def test_write_rows_csv_writes_the_first_rows_columns(tmp_path):
    import csv

    from srlib.utils import write_rows_csv

    path = write_rows_csv([{"a": 1, "b": 2.5}, {"a": 3}], tmp_path / "sub" / "t.csv")
    with open(path, newline="") as f:
        assert list(csv.DictReader(f)) == [{"a": "1", "b": "2.5"}, {"a": "3", "b": ""}]
    assert write_rows_csv([], tmp_path / "empty.csv").read_text().strip() == ""
