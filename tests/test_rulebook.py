"""docs/rules.md is the project's rulebook: every rule ID the code cites is defined there, and the
project's documents do not send a reader to files outside the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULE_ID = re.compile(r"\bJL-[A-Z]\d+\b")
SOURCES = ("audit", "billing", "consultations", "facilities", "telemed", "templates", "locale", "tests")
SKIP_PARTS = {".venv", "__pycache__", "screenshots", "node_modules"}


def defined_rules() -> set[str]:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| (JL-[A-Z]\d+) \|", text, flags=re.MULTILINE))


def cited_rules() -> dict[str, str]:
    """Each rule ID cited in code, templates, translations or tests, with one place that cites it."""
    cited: dict[str, str] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or SKIP_PARTS & set(path.parts) or path.suffix not in {".py", ".html", ".po", ".txt", ".js"}:
                continue
            for rule in RULE_ID.findall(path.read_text(encoding="utf-8", errors="replace")):
                cited.setdefault(rule, str(path.relative_to(ROOT)))
    return cited


def test_the_rulebook_defines_every_rule_id_the_code_cites():
    defined = defined_rules()
    assert {"JL-F1", "JL-P4", "JL-C2", "JL-B3", "JL-O1", "JL-A1"} <= defined  # the table parses
    undefined = {rule: where for rule, where in cited_rules().items() if rule not in defined}
    assert not undefined, f"rule IDs cited but not defined in docs/rules.md: {undefined}"


def test_a_citation_of_an_unknown_rule_would_be_caught():
    unknown = "JL-" + "Z9"  # spelt in two halves so that this file does not cite it
    assert unknown not in defined_rules() and RULE_ID.findall(f"raise ApplicationError('{unknown} …')") == [unknown]


def test_the_project_stands_alone_its_documents_do_not_point_outside_it():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pointing_out = [f"{doc.name}:{n}" for doc in documents
                    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1) if "../shared" in line]
    assert not pointing_out
    assert "docs/rules.md" in (ROOT / "README.md").read_text(encoding="utf-8")
