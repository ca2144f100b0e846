"""The shape every rule check returns (STYLE 1): which rule, which article, passed or not, why.

``rules.py`` modules return lists of ``Check``; pages show each one as passed or failed with its
article, services turn the failing ones into one ``ApplicationError`` and the audit log keeps
them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.utils.translation import gettext


@dataclass(frozen=True)
class Check:
    rule: str  # "JL-P4"
    article: str  # "第十四条第四项"
    label: str  # what is checked, for the passed/failed list on a page
    passed: bool
    detail: str = ""  # why it failed (or what was found), in Chinese
    # When given, ``detail`` is a message template marked with gettext_noop and these fill it: the
    # detail then follows the reader's language too (issue 12).
    params: dict | None = field(default=None, hash=False)

    @property
    def shown_article(self) -> str:
        """The article in the reader's language (rules mark them with ``gettext_noop``; issue 12)."""
        return gettext(self.article) if self.article else ""

    @property
    def shown_label(self) -> str:
        return gettext(self.label) if self.label else ""

    @property
    def shown_detail(self) -> str:
        if not self.detail:
            return ""
        return gettext(self.detail) % self.params if self.params is not None else self.detail

    @property
    def stored_detail(self) -> str:
        return self.detail % self.params if self.params is not None and self.detail else self.detail

    @property
    def text(self) -> str:
        """The message a user sees: ``JL-P4 第十四条第四项: 须具备副高及以上职称（现为 主治医师）``,
        in the reader's language (English: ``JL-P4 Art. 14 (4): …``)."""
        core = f"{self.rule} {self.shown_article}: {self.shown_label}"
        return f"{core}（{self.shown_detail}）" if self.detail else core

    @property
    def stored_text(self) -> str:
        """The same in Chinese, as the audit log keeps it (stored text never follows the reader)."""
        core = f"{self.rule} {self.article}: {self.label}"
        return f"{core}（{self.stored_detail}）" if self.detail else core

    def as_dict(self) -> dict:
        data = asdict(self)
        data["detail"] = self.stored_detail
        data.pop("params")
        data["text"] = self.stored_text
        return data


def failing(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.passed]
