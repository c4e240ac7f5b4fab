"""Two-level category taxonomy: raw categories and the groups offices report.

A *category* is what an incident row carries (入室盗窃, 抢劫 …). A *group* is a named set of
categories that offices report together: 两抢一盗 (robbery, snatching, theft), 十类重点警情,
盗窃. The total of all categories is the group :data:`ALL` (全部, 刑事发案).

Groups are configured per workspace (``[taxonomy]`` in ``config.toml``); the defaults below fit
the demo city. Counting a group is summing its member categories, so group counts are always
consistent with category counts. A member may also name another group (``两抢一盗 = ["两抢",
"盗窃"]``): it stands for that group's members.

Validation: a malformed group (no members, an empty or repeated member, 全部 as a member, a
group that contains itself through others) is refused when the config is read, naming the group;
:meth:`Taxonomy.unknown_members` lists members that are neither a category of the incidents nor
a group (``pingan categories`` reports them as errors: a typo counts nothing, silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "ALL",
    "DEMO_CATEGORIES",
    "DEFAULT_GROUPS",
    "Taxonomy",
    "canonical_name",
]

#: The name of the group that holds every category (all criminal cases, 刑事发案).
ALL = "全部"

#: Categories of the demo city, as Chinese offices name them.
DEMO_CATEGORIES: tuple[str, ...] = (
    "入室盗窃",
    "盗窃电动车",
    "扒窃",
    "抢劫",
    "抢夺",
    "电信网络诈骗",
    "故意伤害",
    "寻衅滋事",
    "毒品",
    "其他",
)

#: Default groups (second level of the taxonomy).
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "两抢一盗": ("抢劫", "抢夺", "入室盗窃", "盗窃电动车", "扒窃"),
    "盗窃": ("入室盗窃", "盗窃电动车", "扒窃"),
    "十类重点警情": (
        "入室盗窃",
        "盗窃电动车",
        "扒窃",
        "抢劫",
        "抢夺",
        "电信网络诈骗",
        "故意伤害",
        "寻衅滋事",
        "毒品",
    ),
}


#: Spellings of :data:`ALL` a user may type (``None`` and "" also mean all categories).
_ALL_ALIASES = frozenset({ALL, "ALL", "all"})


def canonical_name(name: str | None) -> str:
    """The name a category choice is shown and cached under: :data:`ALL` for none/全部/ALL.

    Examples
    --------
    >>> canonical_name(None), canonical_name("ALL"), canonical_name("抢劫")
    ('全部', '全部', '抢劫')
    """
    if name is None or str(name).strip() == "" or str(name) in _ALL_ALIASES:
        return ALL
    return str(name)


@dataclass(frozen=True)
class Taxonomy:
    """Categories and the groups built from them.

    Parameters
    ----------
    groups : mapping of str to sequence of str
        Group name → member categories. Members that never occur are allowed (a group
        then simply counts fewer categories).

    Examples
    --------
    >>> t = Taxonomy({"两抢一盗": ("抢劫", "抢夺", "盗窃")})
    >>> t.members("两抢一盗", ["抢劫", "盗窃", "诈骗"])
    ('抢劫', '盗窃')
    >>> t.members("抢劫", ["抢劫", "盗窃"])
    ('抢劫',)
    >>> t.members("全部", ["抢劫", "盗窃"])
    ('抢劫', '盗窃')
    """

    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_GROUPS))

    def __post_init__(self) -> None:
        clean = {}
        for name, members in dict(self.groups).items():
            if isinstance(members, str):
                raise TypeError(f"taxonomy group {name!r}: members must be a list, not a string")
            if name == ALL:
                raise ValueError(f"taxonomy group name {ALL!r} is reserved for all categories")
            if not str(name).strip():
                raise ValueError("[taxonomy]: a group has an empty name")
            items = tuple(str(m).strip() for m in members)
            if not items:
                raise ValueError(f"[taxonomy] group {name!r}: no members")
            for m in items:
                if not m:
                    raise ValueError(f"[taxonomy] group {name!r}: an empty member")
                if m in _ALL_ALIASES:
                    raise ValueError(f"[taxonomy] group {name!r}: member {m!r} means all categories; "
                                     "leave it out")
            dup = [m for i, m in enumerate(items) if m in items[:i]]
            if dup:
                raise ValueError(f"[taxonomy] group {name!r}: member {dup[0]!r} is listed twice")
            clean[str(name)] = items
        object.__setattr__(self, "groups", clean)
        for name in clean:  # a group may name another; never itself, even through others
            self._expand(name, ())

    def _expand(self, name: str, seen: tuple[str, ...]) -> set[str]:
        """Raw category names of group ``name`` (members that are groups expanded)."""
        if name in seen:
            chain = " → ".join([*seen, name])
            raise ValueError(f"[taxonomy] group {seen[0]!r} contains itself ({chain})")
        out = {name}  # a group named like a raw category holds it
        for m in self.groups[name]:
            out |= self._expand(m, (*seen, name)) if m in self.groups and m != name else {m}
        return out

    def unknown_members(self, categories: Iterable[str]) -> list[tuple[str, str]]:
        """``(group, member)`` for every member that is neither one of ``categories`` (the raw
        categories of the incidents) nor a group — typically a typo, which counts nothing.

        Examples
        --------
        >>> Taxonomy({"两抢": ("抢劫", "抢夺x")}).unknown_members(["抢劫", "抢夺"])
        [('两抢', '抢夺x')]
        """
        known = set(map(str, categories)) | set(self.groups)
        return [(g, m) for g, ms in self.groups.items() for m in ms if m not in known]

    def members(self, name: str, categories: Iterable[str]) -> tuple[str, ...]:
        """Categories (among ``categories``) that make up ``name``.

        ``name`` may be a group, :data:`ALL`, or a single category.

        Raises
        ------
        ValueError
            If ``name`` is neither a group, ``ALL``, nor one of ``categories``.
        """
        cats = list(dict.fromkeys(str(c) for c in categories))
        if name == ALL:
            return tuple(cats)
        if name in self.groups:
            # a group named like a raw category holds it too: cases an office files as plain
            # 盗窃 belong to the 盗窃 group beside 入室盗窃, 扒窃 …; member groups are expanded
            wanted = self._expand(name, ())
            return tuple(c for c in cats if c in wanted)
        if name in cats:
            return (name,)
        raise ValueError(
            f"unknown category or group {name!r}; known: {', '.join([ALL, *self.groups, *cats])}"
        )

    def resolve(self, name: str | None, categories: Iterable[str]) -> tuple[str, ...]:
        """The raw categories a user's choice stands for: the one place that decides it.

        Parameters
        ----------
        name : str or None
            A group (两抢一盗 …), :data:`ALL` (also ``None``, "" and "ALL"), or one raw
            category.
        categories : iterable of str
            The raw categories present (in the counts or the incidents).

        Returns
        -------
        tuple of str
            Members among ``categories``, in their order (empty for a group none of whose
            members occur).

        Raises
        ------
        ValueError
            If ``name`` is neither a group, ``ALL``, nor one of ``categories`` (the message
            lists the known names).

        Examples
        --------
        >>> Taxonomy({"两抢一盗": ("抢劫", "抢夺")}).resolve(None, ["抢劫", "诈骗"])
        ('抢劫', '诈骗')
        >>> Taxonomy({"两抢一盗": ("抢劫", "抢夺")}).resolve("两抢一盗", ["抢劫", "诈骗"])
        ('抢劫',)
        """
        return self.members(canonical_name(name), categories)

    def choices(self, categories: Iterable[str]) -> list[str]:
        """Everything a user can pick: ALL, then groups, then the categories (a category named
        like a group is picked through the group, which holds it: listed once)."""
        cats = [c for c in dict.fromkeys(str(c) for c in categories) if c not in self.groups and c != ALL]
        return [ALL, *self.groups, *cats]

    def to_dict(self) -> dict[str, list[str]]:
        """Plain dict for ``config.toml``."""
        return {k: list(v) for k, v in self.groups.items()}
