"""The status rules of the providers: each turns to "fails" when the code it checks is
broken on purpose, and stays as reported with the real code."""

from rwtheory.report.providers import proposition1 as prop1_provider
from rwtheory.theory import proposition1


def test_prop1_status_can_fail_when_the_closed_form_is_wrong(monkeypatch):
    """Review finding: the status once matched a text that every disagreement contained, so
    a wrong closed form still read 'holds with caveat'. With a deliberately wrong closed
    form the row must say 'fails'; with the real one it does not."""
    instances = proposition1.prop1_instances(300, 0)[7::50]  # six families, rho != 1
    monkeypatch.setattr(proposition1, "prop1_instances", lambda count, seed: instances)
    real = proposition1.kl_capped_weights

    def row():
        return next(c for c in prop1_provider.report(True).claims if c.key == "prop1")

    assert row().status == "holds"
    monkeypatch.setattr(proposition1, "kl_capped_weights",
                        lambda g, r, rho: 0.9 * real(g, r, rho) + 0.1 / len(g))
    assert row().status == "fails"
