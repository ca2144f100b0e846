"""Pages reachable without an account (JL-O6's complaint intake and status lookup).

Nothing of the portal's sign-in gates applies to them: the pages carry no ``login_required``, and
the second-step (``facilities.twofactor.TwoFactorMiddleware``) and password-age
(``facilities.signin.PasswordAgeMiddleware``) gates let a request through when its URL is in one of
``PUBLIC_NAMESPACES`` — so that a signed-in user halfway through the second step, or with an expired
password, still reaches the public pages as anyone else would. The session time-outs
(``telemed.sessions``) only touch signed-in sessions and do nothing else here.
"""

PUBLIC_NAMESPACES = ("public",)


def is_public(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.namespace in PUBLIC_NAMESPACES
