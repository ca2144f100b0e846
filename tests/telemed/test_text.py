"""telemed.text: the one place that strips unsafe characters from untrusted text (issue 8)."""

from telemed.text import clean_data, clean_text


def test_clean_text_strips_controls_direction_overrides_and_zero_width_characters():
    assert clean_text("a\x00b\x07c\x7fd\x85e") == "abcde"
    assert clean_text("报告\u202efdp.exe") == "报告fdp.exe"
    assert clean_text("\ufeff张\u200b三\u200c\u200d\u200e\u200f\u2060\u2066\u2069") == "张三"
    assert clean_text("第一行\r\n第二行\t") == "第一行\r\n第二行\t"
    assert clean_text("第一行\r\n第二行\t", keep_lines=False) == "第一行第二行"
    assert clean_text("普通文字 plain") == "普通文字 plain"


def test_clean_data_walks_dicts_lists_and_keys():
    assert clean_data({"k\x00": ["v\x00", {"x": "\u202ey"}], "n": 1, "none": None}) == {"k": ["v", {"x": "y"}], "n": 1, "none": None}
