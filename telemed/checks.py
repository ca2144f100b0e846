"""The shape every rule check returns (STYLE 1): which rule, which article, passed or not, why.

``rules.py`` modules return lists of ``Check``; pages show each one as passed or failed with its
article, services turn the failing ones into one ``ApplicationError`` and the audit log keeps
them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Check:
    rule: str  # "JL-P4"
    article: str  # "第十四条第四项"
    label: str  # what is checked, for the passed/failed list on a page
    passed: bool
    detail: str = ""  # why it failed (or what was found), in Chinese

    @property
    def text(self) -> str:
        """The message a user sees: ``JL-P4 第十四条第四项: 须具备副高及以上职称（现为 主治医师）``."""
        core = f"{self.rule} {self.article}: {self.label}"
        return f"{core}（{self.detail}）" if self.detail else core

    def as_dict(self) -> dict:
        data = asdict(self)
        data["text"] = self.text
        return data


def failing(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.passed]
