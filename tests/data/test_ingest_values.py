"""Value helpers: control characters out of text columns, cheap length bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.ingest_values import strip_controls, text_lengths


@pytest.mark.parametrize("dtype", ["str", object])
def test_strip_controls_keeps_index_and_missing(dtype):
    s = pd.Series(["JQ01", None, "盗\x00窃\r\n", "\x1b", "a\tb"], dtype=dtype, index=[10, 11, 12, 13, 14]).iloc[1:]
    out, n = strip_controls(s)
    assert n == 4
    assert list(out.index) == [11, 12, 13, 14]
    assert pd.isna(out.loc[11]) and out.loc[12] == "盗窃" and out.loc[13] == "" and out.loc[14] == "a\tb"
    clean = pd.Series(["盗窃", "抢劫"], dtype=dtype)
    same, n0 = strip_controls(clean)
    assert n0 == 0 and same is clean  # a clean column is not copied
    nums = pd.Series([1.0, 2.0])
    assert strip_controls(nums) == (nums, 0)


def test_text_lengths_and_the_byte_bound():
    s = pd.Series(["ab", None, "盗窃盗"], dtype="str")
    np.testing.assert_array_equal(text_lengths(s), [2, 0, 3])
    assert text_lengths(s, over=9) is None  # 9 bytes at most: no value can pass 9 characters
    np.testing.assert_array_equal(text_lengths(s, over=5), [2, 0, 3])  # 9 bytes > 5: counted
    assert text_lengths(pd.Series([1, 2])) is None
    np.testing.assert_array_equal(text_lengths(pd.Series(["x" * 300, 5], dtype=object), over=200), [300, 1])
