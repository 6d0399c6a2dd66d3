"""Markdown tables (presenters.markdown): every cell reads back as the text it was made from."""

from presenters.markdown import cell, escape, markdown_table
from tests.tables import parse_markdown_table


def test_cells_read_back_as_they_were_given_whatever_markdown_would_make_of_them():
    nasty = ["/data/mnist_m_train", "2*p**2 | x", "`code` [link](x) <b>", "$5 :smile: ~strike~ #1 +2 !", "a\\b"]
    rows = [{"name": text, "accuracy": 0.91234} for text in nasty] + [{"name": "none", "accuracy": None}]
    back = parse_markdown_table(markdown_table(rows, ["name", "accuracy"]))
    assert [r["name"] for r in back] == nasty + ["none"]
    assert [r["accuracy"] for r in back] == ["0.912"] * len(nasty) + ["—"]


def test_escape_keeps_a_cell_on_one_line_and_leaves_plain_text_alone():
    assert escape("two\nlines\t here") == "two lines here"
    assert escape("MNIST 60,000 images, 28x28 - ok.") == "MNIST 60,000 images, 28x28 - ok."
    assert cell("") == cell(None) == "—" and cell(3) == "3"


def test_unescaped_tables_write_their_cells_as_they_are():
    assert markdown_table([{"a": "**bold**"}], ["a"], escaped=False).splitlines()[-1] == "| **bold** |"
