"""Fictional place and person names for the demo city 示范市.

Every name here is invented: district names follow compass directions (东湖区 lies east), the
街道 and 社区 names are built from common place-name syllables, and grid workers (网格员) get a
common surname and a two-character given name. Nothing refers to a real place or person.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CITY_NAME",
    "DISTRICT_NAMES",
    "subdistrict_names",
    "community_names",
    "person_names",
    "station_name",
]

#: The demo city.
CITY_NAME = "示范市"

#: District names keyed by compass direction of the district centre (east, west, south, north).
DISTRICT_NAMES: dict[str, str] = {"E": "东湖区", "W": "西山区", "S": "南城区", "N": "北岭区"}

_SUBDISTRICT_STEMS = (
    "云岩", "花溪", "青松", "金桥", "翠屏", "龙泉", "望江", "柳湾", "桂园", "松涛",
    "明珠", "枫林", "凤鸣", "银杏", "白鹭", "长乐", "清溪", "石门", "碧水", "兴隆",
    "锦绣", "黄泥", "沙坪", "梅岭", "朝阳", "和平", "新华", "春晖", "瑞丰", "双龙",
)
_COMMUNITY_FIRST = (
    "东", "西", "南", "北", "中", "新", "老", "上", "下", "前", "后", "大", "小", "金", "银",
    "红", "绿", "青", "白", "黄", "春", "秋", "阳", "月", "星", "福", "安", "康", "和", "泰",
)
_COMMUNITY_SECOND = (
    "山", "湖", "河", "桥", "坝", "坡", "湾", "林", "园", "苑", "村", "街", "门", "岭", "塘",
    "庄", "井", "台", "堡", "坪",
)
_SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
)
_GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "红", "梅", "建", "国",
    "文", "琴", "云", "飞", "斌", "鹏", "辉", "燕", "丹", "萍",
)


def subdistrict_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 街道 names (``云岩街道`` …); at most 30."""
    if n > len(_SUBDISTRICT_STEMS):
        raise ValueError(f"n={n}: at most {len(_SUBDISTRICT_STEMS)} subdistrict names")
    idx = rng.permutation(len(_SUBDISTRICT_STEMS))[:n]
    return [_SUBDISTRICT_STEMS[i] + "街道" for i in idx]


def community_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 社区 names (``金桥社区`` …); at most 600."""
    total = len(_COMMUNITY_FIRST) * len(_COMMUNITY_SECOND)
    if n > total:
        raise ValueError(f"n={n}: at most {total} community names")
    flat = rng.permutation(total)[:n]
    a, b = np.divmod(flat, len(_COMMUNITY_SECOND))
    return [_COMMUNITY_FIRST[i] + _COMMUNITY_SECOND[j] + "社区" for i, j in zip(a, b)]


def person_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` invented person names (surname + one or two given characters); may repeat."""
    s = np.asarray(_SURNAMES)[rng.integers(0, len(_SURNAMES), n)]
    g1 = np.asarray(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    g2 = np.asarray(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    two = rng.random(n) < 0.7
    return np.where(two, np.char.add(np.char.add(s, g1), g2), np.char.add(s, g1)).astype(object)


def station_name(subdistrict: str) -> str:
    """Police station (派出所) serving a 街道: ``云岩街道`` → ``云岩派出所``."""
    return subdistrict.removesuffix("街道") + "派出所"
