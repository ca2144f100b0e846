from consultations.management.commands.render_state_graph import DOC, render


def test_jl_c4_the_state_graph_in_docs_matches_the_code():
    assert DOC.read_text(encoding="utf-8") == render(), "run: python manage.py render_state_graph"
